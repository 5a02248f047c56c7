import type { Redis } from 'ioredis';
import type { JobEventRecord } from '../jobs/job-types.js';
import { jobEventsChannel } from './channels.js';

/** Announces events already committed to PostgreSQL; subscribers that miss one read it back from there. */
export class JobEventPublisher {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async publish(jobId: string, event: JobEventRecord): Promise<void> {
    await this.redis.publish(jobEventsChannel(this.prefix, jobId), JSON.stringify(event));
  }
}
