import path from 'node:path';
import { removeCheckpoint, type WrittenCheckpoint } from '../checkpoints/checkpoint-files.js';
import type { TrainingResult } from '../engine/events.js';
import type { JobEventPublisher } from '../events/job-event-publisher.js';
import type { Logger } from '../logging/logger.js';
import type { JobStore, StatusChange } from './job-store.js';
import type { JobEventRecord } from './job-types.js';

export interface CheckpointMeta extends WrittenCheckpoint {
  epoch: number;
  step: number;
  reason: string;
  metrics: Record<string, number>;
  isBest: boolean;
}

/**
 * The worker's side of a job's life: each change is committed to PostgreSQL first, then announced
 * on Redis. A lost announcement costs a stream nothing (it re-reads the log); a lost row would.
 * Status changes go through the state machine: each returns false when the job had already moved
 * on (cancelled meanwhile, say), and the caller stops.
 */
export class JobLifecycle {
  constructor(
    private readonly store: JobStore,
    private readonly publisher: JobEventPublisher,
    private readonly logger: Logger,
  ) {}

  start(jobId: string, detail: { backend: string; device: string; firstStart: boolean; attempt: number }): Promise<boolean> {
    return this.move(
      jobId,
      {
        status: 'running',
        ...(detail.firstStart ? { startedAt: new Date() } : {}),
        failureReason: null,
        backend: detail.backend,
        device: detail.device,
        incrementAttempts: true,
      },
      { backend: detail.backend, device: detail.device, attempt: detail.attempt },
    );
  }

  succeed(jobId: string, result: TrainingResult): Promise<boolean> {
    return this.move(
      jobId,
      { status: 'succeeded', finishedAt: new Date(), progress: 1 },
      {
        epochs: result.epochs,
        steps: result.steps,
        finalMetrics: result.finalMetrics,
        durationMs: Math.round(result.durationMs),
        ...(result.stopReason ? { stopReason: result.stopReason } : {}),
      },
    );
  }

  fail(jobId: string, reason: string): Promise<boolean> {
    return this.move(jobId, { status: 'failed', finishedAt: new Date(), failureReason: reason }, { reason });
  }

  /** Back to the queue without blame, e.g. because its worker is shutting down. */
  release(jobId: string, reason: string): Promise<boolean> {
    return this.move(jobId, { status: 'queued', from: ['running'] }, { reason });
  }

  /**
   * A requested pause lands. Only from `pausing`: a running job may also become paused at its
   * pauseAtEpoch (pausedAtEpoch), and a worker shutting down must not take that road.
   */
  paused(jobId: string, reason: string): Promise<boolean> {
    return this.move(jobId, { status: 'paused', from: ['pausing'] }, { reason });
  }

  /** The run reached the job's pauseAtEpoch and checkpointed there: it waits for its study's scheduler. */
  pausedAtEpoch(jobId: string, epoch: number): Promise<boolean> {
    return this.move(jobId, { status: 'paused', from: ['running'] }, { reason: `reached epoch ${epoch}, where it was asked to pause (pauseAtEpoch); its study decides whether it goes on`, epoch });
  }

  /** A requested cancel lands (only from `cancelling`). */
  cancelled(jobId: string, reason: string): Promise<boolean> {
    return this.move(jobId, { status: 'cancelled', finishedAt: new Date(), from: ['cancelling'] }, { reason });
  }

  /**
   * Back to the queue after a failure that was not the spec's fault, counted against
   * spec.maxRestarts with its cause; the job resumes from its newest checkpoint.
   */
  restart(jobId: string, cause: string, detail: { restart: number; maxRestarts: number; retryInMs: number }): Promise<boolean> {
    return this.move(
      jobId,
      { status: 'queued', from: ['running'], restartCause: cause },
      { reason: `${cause}; restart ${detail.restart} of ${detail.maxRestarts}: it resumes from its last checkpoint in ${Math.round(detail.retryInMs / 100) / 10} s`, restart: detail.restart },
    );
  }

  /** A failed job queued again by request, with a fresh restart budget. */
  retried(jobId: string): Promise<boolean> {
    return this.move(jobId, { status: 'queued', from: ['failed'], failureReason: null, finishedAt: null, resetRestarts: true }, { reason: 'retry requested; it resumes from its last checkpoint' });
  }

  /** Deletes the checkpoints the job's `keep` policy no longer retains (after a new one is recorded). */
  async pruneCheckpoints(jobId: string, keep: number, artifactDir: string): Promise<void> {
    for (const folder of await this.store.pruneCheckpoints(jobId, keep)) {
      try {
        removeCheckpoint(artifactDir, folder);
      } catch (error) {
        this.logger.warn({ err: error, jobId, folder: path.join(artifactDir, folder) }, 'could not delete a pruned checkpoint');
      }
    }
  }

  /** Announces events already committed, in order. */
  async announceAll(jobId: string, events: JobEventRecord[]): Promise<void> {
    await this.publisher.publishAll(jobId, events);
  }

  private async move(jobId: string, change: StatusChange, data: Record<string, unknown>): Promise<boolean> {
    const event = await this.store.transition(jobId, change, data);
    if (!event) return false;
    await this.announce(jobId, event);
    return true;
  }

  private async announce(jobId: string, event: JobEventRecord): Promise<void> {
    try {
      await this.publisher.publish(jobId, event);
    } catch (error) {
      this.logger.warn({ err: error, jobId, seq: event.seq }, 'could not publish job event; streams will catch up from the log');
    }
  }
}
