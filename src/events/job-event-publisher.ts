import type { Redis } from 'ioredis';
import type { JobEventRecord } from '../jobs/job-types.js';
import { Batcher } from '../infra/batcher.js';
import { jobEventsChannel, jobSummariesChannel } from './channels.js';

/** Whether an event also goes to the all-jobs feed: status changes and per-epoch metrics only. */
export function isSummaryEvent(event: JobEventRecord): boolean {
  return event.type === 'status' || (event.type === 'metrics' && event.data.scope === 'epoch');
}

/** Announces events already committed to PostgreSQL; subscribers that miss one read it back from there. */
export class JobEventPublisher {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Its Redis connection, for other publishers of committed events to share. */
  get connection(): Redis {
    return this.redis;
  }

  async publish(jobId: string, event: JobEventRecord): Promise<void> {
    await this.publishAll(jobId, [event]);
  }

  /**
   * Several events of one job, in order, in one round trip; concurrent calls (submissions) share
   * one pipeline. A repeated message is harmless: streams drop a sequence number they have sent.
   */
  async publishAll(jobId: string, events: readonly JobEventRecord[]): Promise<void> {
    if (events.length === 0) return;
    await this.announcements.call({ jobId, events });
  }

  private readonly announcements = new Batcher(async (batches: { jobId: string; events: readonly JobEventRecord[] }[]) => {
    const pipeline = this.redis.pipeline();
    for (const { jobId, events } of batches) {
      for (const event of events) {
        const message = JSON.stringify({ jobId, ...event });
        pipeline.publish(jobEventsChannel(this.prefix, jobId), message);
        if (isSummaryEvent(event)) pipeline.publish(jobSummariesChannel(this.prefix), message);
      }
    }
    // exec answers each command's error instead of throwing: a failed publish must fail its call.
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error);
    if (failed) throw failed[0];
    return batches.map(() => undefined);
  });
}
