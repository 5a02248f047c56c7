import { TrainingSpecError } from '../engine/events.js';
import type { Dependency } from '../errors/errors.js';
import { outageOf } from '../infra/dependency-errors.js';
import { TrainerCrashedError, TrainerJobError } from './trainer-host.js';

/** What a run that stopped on an error becomes. */
export type FailureOutcome =
  /** Not the spec's fault: resume from the last checkpoint, within spec.maxRestarts. */
  | { kind: 'restart'; cause: string }
  /** The spec's fault (or the run's own budget): fail for good with a reason the user can act on. */
  | { kind: 'fail'; reason: string };

const serviceNames: Record<Dependency, string> = { postgres: 'PostgreSQL', redis: 'Redis' };

/** Errors of the engine that the same spec would hit again on any machine. */
const specFaults = new Set([TrainingSpecError.name, 'TrainerMemoryExceededError']);

/**
 * Sorts a failure into restart or fail. Restarted: the training process killed or crashed (an
 * out-of-memory kill included), lost training threads, and any error of the worker's own
 * PostgreSQL or Redis connections. Failed: what the spec causes (bad data, a model that cannot
 * be built, a memory cap exceeded) and errors of the engine, which would recur.
 */
export function classifyFailure(error: unknown): FailureOutcome {
  // Raised in the worker itself, e.g. an uploaded data set deleted since submission.
  if (error instanceof TrainingSpecError) return { kind: 'fail', reason: error.message };
  if (error instanceof TrainerCrashedError) {
    if (specFaults.has(error.name)) return { kind: 'fail', reason: error.message };
    return { kind: 'restart', cause: error.message };
  }
  if (error instanceof TrainerJobError) {
    if (specFaults.has(error.errorName)) return { kind: 'fail', reason: error.message };
    if (error.errorName === 'ThreadsLostError') return { kind: 'restart', cause: error.message };
    return { kind: 'fail', reason: `training stopped on an internal error (${error.errorName}): ${plainWords(error.message)}` };
  }
  const dependency = outageOf(error);
  if (dependency) return { kind: 'restart', cause: `the worker lost its connection to ${serviceNames[dependency]} (${plainWords(messageOf(error))})` };
  return { kind: 'restart', cause: `the worker hit an unexpected error: ${plainWords(messageOf(error))}` };
}

/** Backoff before restart `n` (1-based): 0.5 s, 1 s, 2 s … at most 10 s. */
export function restartDelayMs(n: number): number {
  return Math.min(10_000, 500 * 2 ** Math.max(0, n - 1));
}

/** The failure reason once the restart budget is spent: each restart's cause, then the last one. */
export function budgetSpentReason(causes: readonly string[], last: string, maxRestarts: number): string {
  const listed = causes.map((cause, index) => `${index + 1}) ${cause}`).join('; ');
  return maxRestarts === 0
    ? `${last} (maxRestarts is 0, so it was not restarted)`
    : `the job failed ${causes.length + 1} times, more than maxRestarts (${maxRestarts}) allows. Restarts: ${listed}. Last failure: ${last}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One line without source paths or stack frames: failure reasons are shown to users. */
export function plainWords(message: string): string {
  const line = message.split('\n').find((part) => part.trim() !== '') ?? message;
  return line
    .replace(/(?:file:\/\/)?(?:\/[\w.@+-]+)+(?::\d+){0,2}/g, '…')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}
