import type { ResolvedSchedule } from '../spec/schedule-spec.js';

export interface ScheduleClock {
  /** 1-based optimizer step. */
  step: number;
  /** 1-based epoch. */
  epoch: number;
  /** Steps in the whole run (T of the cosine schedule). */
  totalSteps: number;
}

/** η at a step, exactly as src/spec/schedule-spec.ts documents each schedule. Pure. */
export function learningRateAt(schedule: ResolvedSchedule, clock: ScheduleClock): number {
  const { step: t, epoch, totalSteps } = clock;
  const eta0 = schedule.initial;
  let eta: number;
  switch (schedule.type) {
    case 'constant':
      eta = eta0;
      break;
    case 'step':
      eta = eta0 * schedule.factor ** Math.floor((epoch - 1) / schedule.everyEpochs);
      break;
    case 'exponential':
      eta = eta0 * schedule.decay ** (t / schedule.decaySteps);
      break;
    case 'inverseTime':
      eta = eta0 / (1 + schedule.decay * t);
      break;
    case 'cosine':
      eta = schedule.floor + ((eta0 - schedule.floor) * (1 + Math.cos((Math.PI * Math.min(t, totalSteps)) / totalSteps))) / 2;
      break;
  }
  return schedule.warmupSteps ? eta * Math.min(1, t / schedule.warmupSteps) : eta;
}
