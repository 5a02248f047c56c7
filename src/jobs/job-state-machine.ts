import { jobStatuses, type JobStatus } from './job-types.js';

/**
 * Every legal status change, in one place. The store applies a change only while the job is in
 * one of the allowed source states (a conditional UPDATE), so concurrent requests cannot race a
 * job into an illegal state.
 */
const transitions: Record<JobStatus, readonly JobStatus[]> = {
  queued: ['running', 'paused', 'cancelled', 'queued'],
  // running → running: a worker takes over a job whose previous worker died.
  running: ['running', 'succeeded', 'failed', 'pausing', 'cancelling', 'queued'],
  pausing: ['paused', 'cancelling', 'succeeded', 'failed'],
  paused: ['queued', 'cancelled'],
  cancelling: ['cancelled', 'succeeded', 'failed'],
  cancelled: [],
  succeeded: [],
  failed: [],
};

export const terminalStatuses: ReadonlySet<JobStatus> = new Set(jobStatuses.filter((status) => transitions[status].length === 0));

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return transitions[from].includes(to);
}

/** The states from which `to` may be entered. */
export function sourcesOf(to: JobStatus): JobStatus[] {
  return jobStatuses.filter((from) => canTransition(from, to));
}
