/** Redis pub/sub channel names, namespaced by the queue prefix like every other key. */
export function jobEventsChannel(prefix: string, jobId: string): string {
  return `${prefix}:job-events:${jobId}`;
}

/** Cancel and pause requests for running jobs, heard by every worker (only the holder acts). */
export function jobControlChannel(prefix: string): string {
  return `${prefix}:job-control`;
}

/** Status changes and epoch metrics of every job: what the all-jobs stream and the dashboard list need. */
export function jobSummariesChannel(prefix: string): string {
  return `${prefix}:job-summaries`;
}

/** A study's own events (trials started, promoted, stopped, exploited; its status). */
export function studyEventsChannel(prefix: string, studyId: string): string {
  return `${prefix}:study-events:${studyId}`;
}
