/** Redis pub/sub channel names, namespaced by the queue prefix like every other key. */
export function jobEventsChannel(prefix: string, jobId: string): string {
  return `${prefix}:job-events:${jobId}`;
}
