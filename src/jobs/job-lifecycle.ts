import path from 'node:path';
import { removeCheckpoint, type WrittenCheckpoint } from '../checkpoints/checkpoint-files.js';
import type { TrainingEvent, TrainingResult } from '../engine/events.js';
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
  private totalSteps = new Map<string, number>();

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
    return this.move(jobId, { status: 'queued' }, { reason });
  }

  paused(jobId: string, reason: string): Promise<boolean> {
    return this.move(jobId, { status: 'paused' }, { reason });
  }

  cancelled(jobId: string, reason: string): Promise<boolean> {
    return this.move(jobId, { status: 'cancelled', finishedAt: new Date() }, { reason });
  }

  async recordTrainingEvent(jobId: string, event: TrainingEvent): Promise<void> {
    switch (event.type) {
      case 'batchMetrics':
      case 'epochMetrics': {
        const total = this.totalSteps.get(jobId) ?? 0;
        const progress = total > 0 ? Math.min(1, event.step / total) : 0;
        const scope = event.type === 'batchMetrics' ? 'batch' : 'epoch';
        const extra =
          event.type === 'epochMetrics' ? { durationMs: Math.round(event.durationMs), samplesPerSecond: Math.round(event.samplesPerSecond) } : {};
        await this.announce(
          jobId,
          await this.store.recordMetrics(jobId, { scope, epoch: event.epoch, step: event.step, values: event.values, progress }, { progress, ...extra }),
        );
        return;
      }
      default: {
        if (event.type === 'started') this.totalSteps.set(jobId, event.totalSteps);
        const { type, ...data } = event;
        await this.announce(jobId, await this.store.appendEvent(jobId, type, data));
      }
    }
  }

  /** Records a written checkpoint, then deletes those the job's `keep` policy no longer retains. */
  async recordCheckpoint(jobId: string, checkpoint: CheckpointMeta, keep: number, artifactDir: string): Promise<void> {
    const { event } = await this.store.recordCheckpoint(jobId, checkpoint);
    await this.announce(jobId, event);
    for (const folder of await this.store.pruneCheckpoints(jobId, keep)) {
      try {
        removeCheckpoint(artifactDir, folder);
      } catch (error) {
        this.logger.warn({ err: error, jobId, folder: path.join(artifactDir, folder) }, 'could not delete a pruned checkpoint');
      }
    }
  }

  forget(jobId: string): void {
    this.totalSteps.delete(jobId);
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
