import type { TrainingEvent, TrainingResult } from '../engine/events.js';
import type { JobEventPublisher } from '../events/job-event-publisher.js';
import type { Logger } from '../logging/logger.js';
import type { JobStore } from './job-store.js';
import type { JobEventRecord } from './job-types.js';

/**
 * The worker's side of a job's life: each change is committed to PostgreSQL first, then announced
 * on Redis. A lost announcement costs a stream nothing (it re-reads the log); a lost row would.
 */
export class JobLifecycle {
  private totalSteps = new Map<string, number>();

  constructor(
    private readonly store: JobStore,
    private readonly publisher: JobEventPublisher,
    private readonly logger: Logger,
  ) {}

  async markRunning(jobId: string, backend: string, device: string): Promise<void> {
    await this.announce(
      jobId,
      await this.store.changeStatus(
        jobId,
        { status: 'running', startedAt: new Date(), finishedAt: undefined, failureReason: null, backend, device, progress: 0, incrementAttempts: true },
        { backend, device },
      ),
    );
  }

  async markSucceeded(jobId: string, result: TrainingResult): Promise<void> {
    this.totalSteps.delete(jobId);
    await this.announce(
      jobId,
      await this.store.changeStatus(
        jobId,
        { status: 'succeeded', finishedAt: new Date(), progress: 1 },
        { epochs: result.epochs, steps: result.steps, finalMetrics: result.finalMetrics, durationMs: Math.round(result.durationMs) },
      ),
    );
  }

  async markFailed(jobId: string, reason: string): Promise<void> {
    this.totalSteps.delete(jobId);
    await this.announce(jobId, await this.store.changeStatus(jobId, { status: 'failed', finishedAt: new Date(), failureReason: reason }, { reason }));
  }

  /** Back to the queue without blame, e.g. because its worker is shutting down. */
  async release(jobId: string, reason: string): Promise<void> {
    this.totalSteps.delete(jobId);
    await this.announce(jobId, await this.store.changeStatus(jobId, { status: 'queued', progress: 0 }, { reason }));
  }

  async recordTrainingEvent(jobId: string, event: TrainingEvent): Promise<void> {
    switch (event.type) {
      case 'started':
      case 'optimizerPhase':
      case 'divergence':
      case 'lrRangeTest': {
        if (event.type === 'started') this.totalSteps.set(jobId, event.totalSteps);
        const { type, ...data } = event;
        await this.announce(jobId, await this.store.appendEvent(jobId, type, data));
        return;
      }
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
    }
  }

  private async announce(jobId: string, event: JobEventRecord): Promise<void> {
    try {
      await this.publisher.publish(jobId, event);
    } catch (error) {
      this.logger.warn({ err: error, jobId, seq: event.seq }, 'could not publish job event; streams will catch up from the log');
    }
  }
}
