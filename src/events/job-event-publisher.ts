import type { Redis } from 'ioredis';
import type { JobEventRecord } from '../jobs/job-types.js';
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

  /** Several events of one job, in order, in one round trip. */
  async publishAll(jobId: string, events: readonly JobEventRecord[]): Promise<void> {
    if (events.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const event of events) {
      const message = JSON.stringify({ jobId, ...event });
      pipeline.publish(jobEventsChannel(this.prefix, jobId), message);
      if (isSummaryEvent(event)) pipeline.publish(jobSummariesChannel(this.prefix), message);
    }
    await pipeline.exec();
  }
}
