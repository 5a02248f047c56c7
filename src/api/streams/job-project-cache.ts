import type { JobStore } from '../../jobs/job-store.js';

const MAX_ENTRIES = 10_000;

/**
 * Which project each job belongs to, for the all-jobs stream to show a client only its own
 * project's jobs. A job never changes project, so an answer can be kept as long as there is room.
 */
export class JobProjectCache {
  private readonly known = new Map<string, Promise<string | null>>();

  constructor(private readonly store: JobStore) {}

  projectOf(jobId: string): Promise<string | null> {
    let entry = this.known.get(jobId);
    if (!entry) {
      entry = this.store.projectOf(jobId);
      this.known.set(jobId, entry);
      // A failed lookup is not an answer: ask again next time.
      entry.catch(() => this.known.delete(jobId));
      if (this.known.size > MAX_ENTRIES) this.known.delete(this.known.keys().next().value!);
    }
    return entry;
  }
}
