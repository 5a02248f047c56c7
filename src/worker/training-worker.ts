import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import type { Services } from '../infra/services.js';
import { TrainingAbortedError, TrainingSpecError } from '../engine/events.js';
import type { JobLifecycle } from '../jobs/job-lifecycle.js';
import type { JobStore } from '../jobs/job-store.js';
import { terminalStatuses } from '../jobs/job-state-machine.js';
import type { Logger } from '../logging/logger.js';
import { enqueueTraining, queueNames, type QueuePayloads, type TrainingQueue } from '../queue/queues.js';
import { TrainerCrashedError, TrainerJobError } from './trainer-host.js';
import { TrainerPool } from './trainer-pool.js';

const SHUTDOWN_REASON = 'the worker is shutting down';
// A job whose worker vanished this many times is failed rather than retried forever.
const MAX_STALLED = 2;

export interface TrainingWorkerDeps {
  config: Config;
  connection: Redis;
  queue: TrainingQueue;
  store: JobStore;
  lifecycle: JobLifecycle;
  logger: Logger;
}

/** A worker on the process's shared services, with a Redis connection of its own (BullMQ blocks on it). */
export function createTrainingWorker(services: Services): TrainingWorker {
  return new TrainingWorker({
    config: services.config,
    connection: services.newRedisConnection('worker'),
    queue: services.queue,
    store: services.store,
    lifecycle: services.lifecycle,
    logger: services.logger,
  });
}

/** Takes training jobs off the queue and runs each in a training child process. */
export class TrainingWorker {
  private worker: Worker<QueuePayloads['training']> | null = null;
  private readonly pool: TrainerPool;
  private readonly running = new Map<string, AbortController>();
  private closing = false;

  constructor(private readonly deps: TrainingWorkerDeps) {
    this.pool = new TrainerPool(deps.config.WORKER_CONCURRENCY, deps.config.TRAINYARD_BACKEND, deps.logger);
  }

  async start(): Promise<void> {
    await this.pool.start();
    await this.reconcile();
    this.worker = new Worker<QueuePayloads['training']>(queueNames.training, (job, token) => this.process(job, token), {
      connection: this.deps.connection,
      prefix: this.deps.config.QUEUE_PREFIX,
      concurrency: this.deps.config.WORKER_CONCURRENCY,
      maxStalledCount: MAX_STALLED,
    });
    this.worker.on('failed', (job, error) => {
      if (job) void this.failIfStillOpen(job.data.jobId, error);
    });
    this.worker.on('error', (error) => this.deps.logger.error({ err: error }, 'queue worker error'));
    await this.worker.waitUntilReady();
    this.deps.logger.info({ concurrency: this.deps.config.WORKER_CONCURRENCY }, 'training worker ready');
  }

  /** Stops taking jobs, hands running ones back to the queue, and stops the training processes. */
  async close(): Promise<void> {
    this.closing = true;
    for (const controller of this.running.values()) controller.abort(SHUTDOWN_REASON);
    await this.worker?.close();
    await this.pool.stop();
  }

  /**
   * Redis keeps nothing across a restart, PostgreSQL does: queue every job the database says is
   * waiting, and re-queue running ones whose queue entry is gone.
   */
  private async reconcile(): Promise<void> {
    const { queue, store, logger } = this.deps;
    for (const status of ['queued', 'running'] as const) {
      let after: string | undefined;
      for (;;) {
        const page = await store.list({ limit: 100, after, status: [status] });
        for (const job of page.jobs) {
          const state = await queue.getJobState(job.id);
          if (state === 'unknown') {
            if (status === 'running') await this.deps.lifecycle.release(job.id, 'its queue entry was lost (Redis restarted); queued again');
            await enqueueTraining(queue, job.id);
            logger.info({ jobId: job.id, status }, 'reconciled job into the queue');
          } else if (state === 'failed' && status === 'running') {
            const entry = await queue.getJob(job.id);
            await this.deps.lifecycle.markFailed(job.id, entry?.failedReason ?? 'failed in the queue');
          }
        }
        if (!page.hasMore) break;
        after = page.jobs.at(-1)?.id;
      }
    }
  }

  private async process(job: Job<QueuePayloads['training']>, token: string | undefined): Promise<void> {
    const { jobId } = job.data;
    const { store, lifecycle, logger } = this.deps;
    const record = await store.get(jobId);
    if (!record) {
      logger.warn({ jobId }, 'queued job has no database row; dropping it');
      return;
    }
    if (terminalStatuses.has(record.status)) return;

    const host = await this.pool.acquire();
    const controller = new AbortController();
    this.running.set(jobId, controller);
    let recording: Promise<void> = Promise.resolve();
    let recordError: unknown = null;
    try {
      await lifecycle.markRunning(jobId, host.backend.name, host.backend.device);
      logger.info({ jobId, backend: host.backend.name, attempt: record.attempts + 1 }, 'training started');
      const result = await host.run(
        jobId,
        record.spec,
        (event) => {
          // Events are written in the order they happened, one at a time, so the log's seq order is training order.
          recording = recording.then(() => lifecycle.recordTrainingEvent(jobId, event)).catch((error: unknown) => {
            recordError ??= error;
            controller.abort('metrics could not be recorded');
          });
        },
        controller.signal,
      );
      await recording;
      if (recordError) throw recordError;
      await lifecycle.markSucceeded(jobId, result);
      logger.info({ jobId, durationMs: Math.round(result.durationMs), finalMetrics: result.finalMetrics }, 'training succeeded');
    } catch (error) {
      await recording;
      if (this.closing && controller.signal.reason === SHUTDOWN_REASON) {
        await lifecycle.release(jobId, `${SHUTDOWN_REASON}; the job was returned to the queue`);
        if (token) await job.moveToWait(token);
        throw new WaitingError();
      }
      const reason = describeFailure(recordError ?? error);
      logger.warn({ jobId, reason }, 'training failed');
      await lifecycle.markFailed(jobId, reason);
      throw new UnrecoverableError(reason);
    } finally {
      this.running.delete(jobId);
      this.pool.release(host);
    }
  }

  /** BullMQ can fail a job without our processor finishing it (stalled too often): record that. */
  private async failIfStillOpen(jobId: string, error: Error): Promise<void> {
    try {
      const record = await this.deps.store.get(jobId);
      if (!record || terminalStatuses.has(record.status)) return;
      await this.deps.lifecycle.markFailed(
        jobId,
        `the job's worker stopped responding ${MAX_STALLED + 1} times (a crashed or killed process): ${error.message}`,
      );
    } catch (recordError) {
      this.deps.logger.error({ err: recordError, jobId }, 'could not record a queue failure');
    }
  }
}

/** A failure reason a user can act on. */
export function describeFailure(error: unknown): string {
  if (error instanceof TrainerCrashedError) return error.message;
  if (error instanceof TrainerJobError) {
    if (error.errorName === TrainingSpecError.name) return error.message;
    if (error.errorName === TrainingAbortedError.name) return `training was stopped: ${error.message}`;
    return `training failed: ${error.errorName}: ${error.message}`;
  }
  if (error instanceof Error) return `training failed: ${error.message}`;
  return `training failed: ${String(error)}`;
}
