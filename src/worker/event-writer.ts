import { randomUUID } from 'node:crypto';
import type { TrainingEvent } from '../engine/events.js';
import type { CheckpointMeta } from '../jobs/job-lifecycle.js';
import type { JobStore, RunWrite, RunWriteBody } from '../jobs/job-store.js';
import type { JobEventRecord } from '../jobs/job-types.js';
import type { Logger } from '../logging/logger.js';

/** Writes per transaction: enough to keep up with any trainer, small enough to commit quickly. */
const MAX_BATCH = 500;
/**
 * Above this many waiting writes, batch-scope metrics are sampled (every `SAMPLE_EVERY`-th kept)
 * rather than all stored; epoch metrics, checkpoints and every other event are always kept.
 */
const HIGH_WATER = 5_000;
const SAMPLE_EVERY = 10;
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 2_000;

export interface EventWriterDeps {
  store: JobStore;
  logger: Logger;
  /**
   * After each commit: announce the events (a lost announcement costs a stream nothing). It must
   * hand its messages to Redis before its first await, so announcements keep commit order.
   */
  committed(events: JobEventRecord[]): Promise<void>;
  /** After a checkpoint's row is committed: delete the checkpoints the job's policy no longer keeps. */
  checkpointCommitted(): Promise<void>;
}

/**
 * One training run's writes to PostgreSQL, in the order training produced them, batched into
 * few transactions. A failed batch is retried until it commits — through a PostgreSQL restart
 * or a terminated session — and each write carries a key of this run, so a batch whose commit
 * was acknowledged too late for us to see is not written twice.
 */
export class EventWriter {
  private readonly runId = randomUUID().slice(0, 13);
  private next = 0;
  private readonly pending: RunWrite[] = [];
  private totalSteps = 0;
  private batchMetricsSeen = 0;
  private flushing: Promise<void> | null = null;
  private stopped = false;
  /** When writes began failing; null while they succeed. */
  private failingSince: number | null = null;
  private lastError: unknown = null;
  private retryMs = FIRST_RETRY_MS;
  /** Batch metrics left out while the writer was behind. */
  sampledOut = 0;

  constructor(
    private readonly jobId: string,
    private readonly deps: EventWriterDeps,
  ) {}

  /** How long writes have been failing, in ms (0 while they succeed). */
  get failingForMs(): number {
    return this.failingSince === null ? 0 : Date.now() - this.failingSince;
  }

  get backlog(): number {
    return this.pending.length;
  }

  /** `at`: when training produced it (ms since the epoch). */
  event(event: TrainingEvent, at = Date.now()): void {
    switch (event.type) {
      case 'batchMetrics':
      case 'epochMetrics': {
        const scope = event.type === 'batchMetrics' ? 'batch' : 'epoch';
        if (scope === 'batch') {
          this.batchMetricsSeen += 1;
          if (this.pending.length >= HIGH_WATER && this.batchMetricsSeen % SAMPLE_EVERY !== 0) {
            this.sampledOut += 1;
            return;
          }
        }
        const progress = this.totalSteps > 0 ? Math.min(1, event.step / this.totalSteps) : 0;
        const extra = event.type === 'epochMetrics' ? { durationMs: Math.round(event.durationMs), samplesPerSecond: Math.round(event.samplesPerSecond) } : {};
        this.push({ kind: 'metric', metric: { scope, epoch: event.epoch, step: event.step, values: event.values, progress }, eventData: { progress, ...extra } }, at);
        return;
      }
      default: {
        if (event.type === 'started') this.totalSteps = event.totalSteps;
        const { type, ...data } = event;
        this.push({ kind: 'event', type, data }, at);
      }
    }
  }

  checkpoint(checkpoint: CheckpointMeta, at = Date.now()): void {
    this.push({ kind: 'checkpoint', checkpoint }, at);
  }

  /** Resolves once everything pushed so far is committed; rejects when writes have failed for `withinMs`. */
  async drain(withinMs: number): Promise<void> {
    const deadline = Date.now() + withinMs;
    while (this.pending.length > 0 || this.flushing) {
      if (this.stopped) throw new Error('the event writer was stopped with writes pending');
      if (this.failingSince !== null && Date.now() > deadline) {
        throw new Error(`could not record the run's events in PostgreSQL for ${Math.round(this.failingForMs / 1000)} s: ${describe(this.lastError)}`);
      }
      this.kick();
      await (this.flushing ?? Promise.resolve());
    }
  }

  /** Gives up on what is still pending (the run is over and someone else will redo it). */
  stop(): void {
    this.stopped = true;
  }

  private push(write: RunWriteBody, emittedAt: number): void {
    if (this.stopped) return;
    this.pending.push({ ...write, key: `${this.runId}:${this.next++}`, emittedAt });
    this.kick();
  }

  private kick(): void {
    if (this.flushing || this.stopped || this.pending.length === 0) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
      if (this.pending.length > 0 && !this.stopped) this.kick();
    });
  }

  /** Writes until nothing is pending; after a failure, waits and returns (kick() tries again). */
  private async flush(): Promise<void> {
    while (!this.stopped && this.pending.length > 0) {
      const batch = this.pending.slice(0, MAX_BATCH);
      try {
        const events = await this.deps.store.recordBatch(this.jobId, batch);
        this.pending.splice(0, batch.length);
        if (this.failingSince !== null) this.deps.logger.info({ jobId: this.jobId, afterMs: this.failingForMs }, 'recording events again');
        this.failingSince = null;
        this.retryMs = FIRST_RETRY_MS;
        // Not awaited: the next batch need not wait for Redis. Announcements still leave in
        // commit order, because publishing queues its commands on one connection synchronously.
        void this.deps.committed(events).catch((error: unknown) => this.deps.logger.warn({ err: error, jobId: this.jobId }, 'could not announce events'));
        if (batch.some((write) => write.kind === 'checkpoint')) {
          await this.deps.checkpointCommitted().catch((error: unknown) => this.deps.logger.warn({ err: error, jobId: this.jobId }, 'could not prune checkpoints'));
        }
      } catch (error) {
        if (this.failingSince === null) {
          this.failingSince = Date.now();
          this.deps.logger.warn({ err: error, jobId: this.jobId, pending: this.pending.length }, 'could not record events; retrying (training goes on)');
        }
        this.lastError = error;
        // drain() decides when to give up; the writer itself only waits and tries again.
        await new Promise((resolve) => setTimeout(resolve, this.retryMs));
        this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
        return;
      }
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]!.slice(0, 200) : String(error);
}
