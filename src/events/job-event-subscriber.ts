import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import type { JobEventRecord } from '../jobs/job-types.js';
import { jobEventsChannel, jobSummariesChannel, studyEventsChannel } from './channels.js';

export type JobEventListener = (event: JobEventRecord & { jobId: string }) => void;

/**
 * One Redis connection per API process, subscribed to exactly the channels someone is watching
 * and fanned out in memory: a thousand open streams of one job cost one subscription, and any
 * number of API processes can serve streams.
 */
export class JobEventSubscriber {
  private readonly listeners = new Map<string, Set<JobEventListener>>();
  private readonly reconnectListeners = new Set<() => void>();

  /** `redis`: a connection of its own, already connected; every later `ready` is a reconnect. */
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    this.redis.on('message', (channel: string, message: string) => this.dispatch(channel, message));
    // ioredis subscribes again by itself after a reconnect, but what was published meanwhile is gone.
    this.redis.on('ready', () => {
      for (const listener of this.reconnectListeners) listener();
    });
  }

  /** Whether live events arrive now; false while Redis is unreachable. */
  get connected(): boolean {
    return this.redis.status === 'ready';
  }

  /** Runs `listener` each time the connection comes back after a drop: events published meanwhile were missed. */
  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /** Resolves once Redis confirms the subscription, so nothing published afterwards is missed. */
  subscribe(jobId: string, listener: JobEventListener): Promise<() => Promise<void>> {
    return this.listen(jobEventsChannel(this.prefix, jobId), listener);
  }

  /** Status changes and epoch metrics of every job. */
  subscribeSummaries(listener: JobEventListener): Promise<() => Promise<void>> {
    return this.listen(jobSummariesChannel(this.prefix), listener);
  }

  /** A study's own events: `listener` is told that the study's log has grown (streams read it back from PostgreSQL). */
  subscribeStudy(studyId: string, listener: () => void): Promise<() => Promise<void>> {
    return this.listen(studyEventsChannel(this.prefix, studyId), () => listener());
  }

  private async listen(channel: string, listener: JobEventListener): Promise<() => Promise<void>> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(listener);
    const unsubscribe = async () => {
      set.delete(listener);
      if (set.size > 0 || this.listeners.get(channel) !== set) return;
      this.listeners.delete(channel);
      await this.redis.unsubscribe(channel).catch((error: unknown) => this.logger.warn({ err: error, channel }, 'unsubscribe failed'));
    };
    try {
      await this.redis.subscribe(channel);
    } catch (error) {
      // Redis is down: the caller is told, and no listener is left behind.
      await unsubscribe();
      throw error;
    }
    return unsubscribe;
  }

  private dispatch(channel: string, message: string): void {
    const listeners = this.listeners.get(channel);
    if (!listeners) return;
    let event: JobEventRecord & { jobId: string };
    try {
      event = JSON.parse(message) as JobEventRecord & { jobId: string };
    } catch (error) {
      this.logger.warn({ channel, err: error }, 'ignoring malformed job event message');
      return;
    }
    for (const listener of listeners) listener(event);
  }
}
