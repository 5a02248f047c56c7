import type { Redis } from 'ioredis';
import { studyEventsChannel } from '../events/channels.js';
import type { StudyEventRecord } from './study-types.js';

/** Announces study events already committed to PostgreSQL; a stream that misses one reads it back from there. */
export class StudyEventPublisher {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async publishAll(studyId: string, events: readonly StudyEventRecord[]): Promise<void> {
    if (events.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const event of events) pipeline.publish(studyEventsChannel(this.prefix, studyId), JSON.stringify({ studyId, ...event }));
    await pipeline.exec();
  }
}
