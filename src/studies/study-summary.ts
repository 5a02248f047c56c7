import type { ResolvedStudySpec } from '../spec/study-spec.js';
import { better } from './algorithms/search-strategy.js';
import type { TrialResult, TrialWithJob } from './study-types.js';

/** The trial whose latest objective is best (ties: the older trial). */
export function bestTrial(spec: ResolvedStudySpec, trials: TrialWithJob[]): { trial: TrialWithJob; result: TrialResult } | null {
  let best: { trial: TrialWithJob; result: TrialResult } | null = null;
  for (const trial of trials) {
    const result = trial.results.at(-1);
    if (result && Number.isFinite(result.value) && (!best || better(spec, result.value, best.result.value))) best = { trial, result };
  }
  return best;
}

export interface StudyCompute {
  /** Epochs the trials trained, over all their segments. */
  trialEpochs: number;
  /** Training time of the trials' jobs (PBT: every job a trial ran as). */
  trialSeconds: number;
  /** What the same trials trained to maxEpochs each would have used. */
  fullTrainingEpochs: number;
  /** Estimated at the study's seconds per trial-epoch. */
  fullTrainingSeconds: number;
}

export function studyCompute(spec: ResolvedStudySpec, trials: TrialWithJob[], earlierJobsMs: number): StudyCompute {
  let trialEpochs = 0;
  let trialMs = earlierJobsMs;
  for (const trial of trials) {
    trialEpochs += trial.epochsTrained;
    trialMs += trial.job.runtimeMs;
  }
  const fullMs = trialEpochs > 0 ? (trialMs / trialEpochs) * trials.length * spec.maxEpochs : 0;
  return {
    trialEpochs,
    trialSeconds: Math.round(trialMs / 100) / 10,
    fullTrainingEpochs: trials.length * spec.maxEpochs,
    fullTrainingSeconds: Math.round(fullMs / 100) / 10,
  };
}
