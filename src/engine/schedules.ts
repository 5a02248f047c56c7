import { scheduleUnit, warmupLength, type ResolvedSchedule } from '../spec/schedule-spec.js';

export interface ScheduleClock {
  /** 1-based optimizer step within the schedule's phase. */
  step: number;
  /** 1-based epoch within the phase. */
  epoch: number;
  /** Optimizer steps and epochs in the phase. */
  phaseSteps: number;
  phaseEpochs: number;
}

/**
 * η of an optimizer step, exactly as src/spec/schedule-spec.ts documents each schedule: i counts
 * the steps (or epochs) done in the phase, as a PyTorch scheduler stepped once per step (or epoch)
 * does. Pure. reduceOnPlateau's rate is state (src/engine/callbacks/reduce-on-plateau.ts) and is
 * passed in as `plateauRate`.
 */
export function learningRateAt(schedule: ResolvedSchedule, clock: ScheduleClock, plateauRate?: number): number {
  const eta0 = schedule.initial;
  const unit = scheduleUnit(schedule);
  const i = unit === 'epoch' ? clock.epoch - 1 : clock.step - 1;
  const span = unit === 'epoch' ? clock.phaseEpochs : clock.phaseSteps;
  const warmup = warmupLength(schedule);
  if (i < warmup) {
    const start = ('warmupStartFactor' in schedule ? schedule.warmupStartFactor : undefined) ?? 1 / warmup;
    return eta0 * (start + ((1 - start) * i) / warmup);
  }
  const j = i - warmup;
  switch (schedule.type) {
    case 'constant':
      return eta0;
    case 'step':
      return eta0 * schedule.factor ** Math.floor(j / (schedule.everyEpochs ?? schedule.everySteps ?? 1));
    case 'multiStep':
      return eta0 * schedule.factor ** schedule.milestones.filter((milestone) => milestone <= j).length;
    case 'exponential':
      return eta0 * schedule.decay ** (j / (schedule.decayEpochs ?? schedule.decaySteps ?? 1));
    case 'inverseTime':
      return eta0 / (1 + schedule.decay * j);
    case 'cosine': {
      const T = Math.max(1, span - warmup);
      return schedule.floor + ((eta0 - schedule.floor) * (1 + Math.cos((Math.PI * Math.min(j, T)) / T))) / 2;
    }
    case 'oneCycle':
      return oneCycleRate(schedule, j, span);
    case 'reduceOnPlateau':
      return plateauRate ?? eta0;
  }
}

/** torch.optim.lr_scheduler.OneCycleLR.get_lr, step `i` (0-based) of `total`. */
function oneCycleRate(schedule: Extract<ResolvedSchedule, { type: 'oneCycle' }>, i: number, total: number): number {
  const max = schedule.initial;
  const first = max / schedule.divFactor;
  const last = first / schedule.finalDivFactor;
  const phases = schedule.threePhase
    ? [
        { end: schedule.pctStart * total - 1, from: first, to: max },
        { end: 2 * schedule.pctStart * total - 2, from: max, to: first },
        { end: total - 1, from: first, to: last },
      ]
    : [
        { end: schedule.pctStart * total - 1, from: first, to: max },
        { end: total - 1, from: max, to: last },
      ];
  let start = 0;
  for (const [k, phase] of phases.entries()) {
    if (i <= phase.end || k === phases.length - 1) {
      const pct = (i - start) / (phase.end - start);
      return schedule.anneal === 'cos' ? phase.to + ((phase.from - phase.to) / 2) * (Math.cos(Math.PI * pct) + 1) : (phase.to - phase.from) * pct + phase.from;
    }
    start = phase.end;
  }
  return last;
}
