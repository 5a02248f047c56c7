import type { JobEventSubscriber } from '../../events/job-event-subscriber.js';
import type { JobEventRecord } from '../../jobs/job-types.js';
import { encodeEvent } from './client-connection.js';
import { textFrame } from './websocket-frames.js';

/**
 * The live events of one job that arrived together, framed once for every client: `frames` holds
 * each event's websocket text frame back to back, event i in bytes offsets[i]..offsets[i + 1].
 * A client that is caught up receives any run of them as one slice of one buffer: one write.
 */
export interface EventBatch {
  readonly jobId: string;
  readonly events: readonly JobEventRecord[];
  readonly frames: Buffer;
  readonly offsets: readonly number[];
}

export interface BatchFollower {
  receive(batch: EventBatch): void;
}

interface JobFeed {
  readonly followers: Set<BatchFollower>;
  pending: JobEventRecord[];
  scheduled: boolean;
  /** Settles once Redis confirmed the job's channel; resolves to the unsubscribe. */
  readonly subscribed: Promise<() => Promise<void>>;
}

/**
 * One subscription per followed job in this API process, however many clients follow it. Events
 * that arrive in one turn of the event loop (a writer's batch, or everything that queued up while
 * the process was busy) are framed once and handed to every follower together: with a thousand
 * clients the cost per event is one encoding, and the cost per client is one socket write per
 * batch rather than one per event. So a busy process sends fewer, larger writes instead of
 * falling behind.
 */
export class JobFanout {
  private readonly feeds = new Map<string, JobFeed>();

  constructor(private readonly subscriber: JobEventSubscriber) {}

  /**
   * Resolves once live events of the job reach `follower`: events published after that are
   * never missed (the caller reads the log only afterwards). Returns how to stop following.
   */
  async follow(jobId: string, follower: BatchFollower): Promise<() => Promise<void>> {
    let joined = this.feeds.get(jobId);
    if (!joined) {
      const created: JobFeed = {
        followers: new Set(),
        pending: [],
        scheduled: false,
        subscribed: this.subscriber.subscribe(jobId, (event) => this.arrive(jobId, event)),
      };
      // A failed subscription is not kept: the next client asks Redis again.
      created.subscribed.catch(() => {
        if (this.feeds.get(jobId) === created) this.feeds.delete(jobId);
      });
      this.feeds.set(jobId, created);
      joined = created;
    }
    const feed = joined;
    feed.followers.add(follower);
    try {
      await feed.subscribed;
    } catch (error) {
      feed.followers.delete(follower);
      throw error;
    }
    return async () => {
      if (!feed.followers.delete(follower) || feed.followers.size > 0) return;
      if (this.feeds.get(jobId) === feed) this.feeds.delete(jobId);
      await (await feed.subscribed)();
    };
  }

  /** Clients following `jobId` in this process (for tests and metrics). */
  followers(jobId: string): number {
    return this.feeds.get(jobId)?.followers.size ?? 0;
  }

  private arrive(jobId: string, event: JobEventRecord): void {
    const feed = this.feeds.get(jobId);
    if (!feed) return;
    feed.pending.push(event);
    if (feed.scheduled) return;
    feed.scheduled = true;
    // setImmediate runs after the I/O of this loop turn: every message already read from Redis joins the batch.
    setImmediate(() => {
      feed.scheduled = false;
      const events = feed.pending;
      feed.pending = [];
      const batch = frameBatch(jobId, events);
      for (const follower of feed.followers) follower.receive(batch);
    });
  }
}

export function frameBatch(jobId: string, events: readonly JobEventRecord[]): EventBatch {
  const frames = events.map((event) => textFrame(encodeEvent(jobId, event)));
  const offsets = [0];
  for (const frame of frames) offsets.push(offsets.at(-1)! + frame.length);
  return { jobId, events, frames: Buffer.concat(frames, offsets.at(-1)), offsets };
}
