import { createRng, deriveSeed, type Rng } from '../../engine/random.js';
import type { ResolvedStudySpec } from '../../spec/study-spec.js';
import type { TrialParams } from '../search-space.js';
import type { TrialResult, TrialWithJob } from '../study-types.js';

/** What the scheduler knows when it decides: the study, its trials as observed now, the budget left. */
export interface StudyState {
  spec: ResolvedStudySpec;
  trials: TrialWithJob[];
  /** Epochs the trials may still be given (Infinity without a trialEpochs budget), in-flight segments counted. */
  epochsLeft: number;
  /** The seconds budget is spent: nothing starts or continues. */
  timeUp: boolean;
}

/** One thing the scheduler does; each is committed on its own, under the study's lease. */
export type Decision =
  | { kind: 'start'; number: number; params: TrialParams; bracket: number; targetEpoch: number }
  /** `rung`: ASHA's rung the decision was made at (0 = first), as in the trial's results. */
  | { kind: 'promote'; trial: TrialWithJob; targetEpoch: number; reason: string; rung?: number }
  | { kind: 'continue'; trial: TrialWithJob; targetEpoch: number }
  | { kind: 'exploit'; trial: TrialWithJob; donor: TrialWithJob; fromEpoch: number; params: TrialParams; targetEpoch: number }
  | { kind: 'stop'; trial: TrialWithJob; reason: string; rung?: number };

/** A search algorithm: from the study's state, what to do now. Pure: the scheduler applies the decisions. */
export interface SearchStrategy {
  /** The epoch a result at `epoch` counts for (ASHA: its rung), recorded with the result. */
  resultFor(trial: TrialWithJob, epoch: number, value: number): TrialResult;
  decide(state: StudyState): Decision[];
}

/** Random numbers for one purpose of one trial: the same seed gives the same trials whatever the timing. */
export function trialRng(spec: ResolvedStudySpec, number: number, purpose = 0): Rng {
  return createRng(deriveSeed(deriveSeed(spec.seed, number), purpose));
}

/** Whether a is better than b for the objective. */
export function better(spec: ResolvedStudySpec, a: number, b: number): boolean {
  return spec.objective.mode === 'max' ? a > b : a < b;
}

/** Best first; ties go to the older trial. */
export function byObjective<T extends { number: number }>(spec: ResolvedStudySpec, valueOf: (item: T) => number) {
  return (a: T, b: T): number => {
    const va = valueOf(a);
    const vb = valueOf(b);
    if (va === vb) return a.number - b.number;
    return better(spec, va, vb) ? -1 : 1;
  };
}

export const latestResult = (trial: TrialWithJob): TrialResult | undefined => trial.results.at(-1);

/** Trials taking a slot: queued or training. */
export const activeTrials = (trials: TrialWithJob[]) => trials.filter((trial) => trial.state === 'training');

export const formatValue = (value: number) => (Math.abs(value) >= 1000 || Math.abs(value) < 0.001 ? value.toExponential(3) : String(Math.round(value * 10_000) / 10_000));
