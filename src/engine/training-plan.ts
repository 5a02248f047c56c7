import { resolveOptimizer, defaultLearningRates, type OptimizerConfig } from '../spec/optimizer-spec.js';
import { resolveSchedule, type LearningRate, type ResolvedSchedule } from '../spec/schedule-spec.js';
import type { ResolvedJobSpec } from '../spec/job-spec.js';

export interface PlannedPhase {
  index: number;
  optimizer: OptimizerConfig;
  fromEpoch: number;
  untilEpoch: number;
  learningRate: LearningRate;
  schedule: ResolvedSchedule;
}

/** The optimizer phases of a run, one per epoch range; a single optimizer is one phase. */
export function planPhases(spec: ResolvedJobSpec): PlannedPhase[] {
  const phases = Array.isArray(spec.optimizer)
    ? spec.optimizer
    : [{ optimizer: spec.optimizer, untilEpoch: spec.epochs, learningRate: spec.learningRate }];
  let fromEpoch = 1;
  return phases.map((phase, index) => {
    const optimizer = resolveOptimizer(phase.optimizer);
    const rate = phase.learningRate ?? spec.learningRate;
    const planned: PlannedPhase = {
      index,
      optimizer,
      fromEpoch,
      untilEpoch: phase.untilEpoch ?? spec.epochs,
      learningRate: rate ?? defaultLearningRates[optimizer.type],
      schedule: resolveSchedule(rate, defaultLearningRates[optimizer.type]),
    };
    fromEpoch = planned.untilEpoch + 1;
    return planned;
  });
}

export function phaseForEpoch(phases: PlannedPhase[], epoch: number): PlannedPhase {
  return phases.find((phase) => epoch <= phase.untilEpoch) ?? phases[phases.length - 1]!;
}
