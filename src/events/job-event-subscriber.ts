import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import type { JobEventRecord } from '../jobs/job-types.js';
import { jobEventsChannel } from './channels.js';

export type JobEventListener = (event: JobEventRecord) => void;

/**
 * One Redis connection per API process, subscribed to exactly the jobs someone is watching and
 * fanned out in memory, so many open streams of one job cost one subscription.
 */
export class JobEventSubscriber {
  private readonly listeners = new Map<string, Set<JobEventListener>>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    this.redis.on('message', (channel: string, message: string) => this.dispatch(channel, message));
  }

  /** Resolves once Redis confirms the subscription, so nothing published afterwards is missed. */
  async subscribe(jobId: string, listener: JobEventListener): Promise<() => Promise<void>> {
    const channel = jobEventsChannel(this.prefix, jobId);
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(listener);
    await this.redis.subscribe(channel);
    return async () => {
      set.delete(listener);
      if (set.size > 0 || this.listeners.get(channel) !== set) return;
      this.listeners.delete(channel);
      await this.redis.unsubscribe(channel).catch((error: unknown) => this.logger.warn({ err: error, channel }, 'unsubscribe failed'));
    };
  }

  private dispatch(channel: string, message: string): void {
    const listeners = this.listeners.get(channel);
    if (!listeners) return;
    let event: JobEventRecord;
    try {
      event = JSON.parse(message) as JobEventRecord;
    } catch (error) {
      this.logger.warn({ channel, err: error }, 'ignoring malformed job event message');
      return;
    }
    for (const listener of listeners) listener(event);
  }
}
