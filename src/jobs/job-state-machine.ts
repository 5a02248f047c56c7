import { jobStatuses, type JobStatus } from './job-types.js';

/**
 * Every legal status change, in one place. The store applies a change only while the job is in
 * one of the allowed source states (a conditional UPDATE), so concurrent requests cannot race a
 * job into an illegal state.
 */
const transitions: Record<JobStatus, readonly JobStatus[]> = {
  queued: ['running', 'paused', 'cancelled', 'queued'],
  // running → running: a worker takes over a job whose previous worker died.
  // running → paused: the job reached its pauseAtEpoch (a study's rung or perturbation interval).
  running: ['running', 'succeeded', 'failed', 'pausing', 'paused', 'cancelling', 'queued'],
  pausing: ['paused', 'cancelling', 'succeeded', 'failed'],
  // paused → stopped: its study's scheduler will not train it further.
  paused: ['queued', 'cancelled', 'stopped'],
  cancelling: ['cancelled', 'succeeded', 'failed'],
  cancelled: [],
  succeeded: [],
  stopped: [],
  // Only by POST /v1/jobs/{id}/retry: it resumes from the job's last checkpoint.
  failed: ['queued'],
};

/** Statuses in which a job has ended: no worker will touch it again on its own. */
export const terminalStatuses: ReadonlySet<JobStatus> = new Set<JobStatus>(['cancelled', 'succeeded', 'failed', 'stopped']);

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return transitions[from].includes(to);
}

/** The states from which `to` may be entered. */
export function sourcesOf(to: JobStatus): JobStatus[] {
  return jobStatuses.filter((from) => canTransition(from, to));
}
