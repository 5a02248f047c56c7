import { randomUUID } from 'node:crypto';
import path from 'node:path';
import os from 'node:os';
import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import type { DatasetService } from '../datasets/dataset-service.js';
import { TrainingSpecError, type AbortReason } from '../engine/events.js';
import { listenForJobControl } from '../events/job-control.js';
import type { Services } from '../infra/services.js';
import type { JobLifecycle } from '../jobs/job-lifecycle.js';
import { terminalStatuses } from '../jobs/job-state-machine.js';
import type { JobStore } from '../jobs/job-store.js';
import { WorkerRegistry } from '../observability/worker-registry.js';
import { backendChoiceOf, type SelectedBackend } from '../engine/backend.js';
import type { JobRecord } from '../jobs/job-types.js';
import type { Logger } from '../logging/logger.js';
import { queueNames, queuesServedBy, type DeviceClass, type TrainingPayload, type TrainingQueues } from '../queue/training-queues.js';
import { TrainerCrashedError, TrainerJobError } from './trainer-host.js';
import type { RunRequest } from './trainer-protocol.js';
import { TrainerPool } from './trainer-pool.js';

// A job whose worker vanished this many times is failed rather than retried forever.
const MAX_STALLED = 2;

/** Attempts a job gets when its distributed run loses the threads it needs. */
const THREAD_LOSS_ATTEMPTS = 3;

export interface TrainingWorkerDeps {
  config: Config;
  connection: Redis;
  controlConnection: Redis;
  queues: TrainingQueues;
  store: JobStore;
  lifecycle: JobLifecycle;
  datasets: DatasetService;
  logger: Logger;
}

/** A worker on the process's shared services, with Redis connections of its own (BullMQ blocks on one). */
export function createTrainingWorker(services: Services): TrainingWorker {
  return new TrainingWorker({
    config: services.config,
    connection: services.newRedisConnection('worker'),
    controlConnection: services.newRedisConnection('worker-control'),
    queues: services.queues,
    store: services.store,
    lifecycle: services.lifecycle,
    datasets: services.datasets,
    logger: services.logger,
  });
}

/**
 * Takes training jobs off the queue and runs each in a training child process, resuming from the
 * job's newest checkpoint. Holds a lease on each job in PostgreSQL while it runs, so no other
 * worker takes it over unless this one is gone.
 */
export class TrainingWorker {
  private readonly workers: Worker<TrainingPayload>[] = [];
  /** Jobs this worker has taken, over all its queues; WORKER_CONCURRENCY at most. */
  private slotsInUse = 0;
  private deviceClass: DeviceClass = 'cpu';
  private readonly pool: TrainerPool;
  private readonly running = new Map<string, AbortController>();
  private readonly id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private reconcileTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private backend: SelectedBackend | null = null;
  private readonly startedAt = new Date().toISOString();
  private readonly registry: WorkerRegistry;
  private closing = false;

  constructor(private readonly deps: TrainingWorkerDeps) {
    this.registry = new WorkerRegistry(deps.connection, deps.config.QUEUE_PREFIX, deps.config.WORKER_HEARTBEAT_MS);
    this.pool = new TrainerPool(deps.config.WORKER_CONCURRENCY, backendChoiceOf(deps.config), deps.config.TRAINING_THREADS, deps.logger);
  }

  async start(): Promise<void> {
    const { config, logger } = this.deps;
    const host = await this.pool.start();
    this.backend = host.backend;
    this.deviceClass = deviceClassOf(config.WORKER_DEVICE, host.backend);
    // Once per worker, not per training process: the one thing an operator can fix (apt-get install libopenblas-dev).
    const withoutNative = host.backend.skipped.find((reason) => reason.startsWith('native:'));
    if (withoutNative && host.backend.name !== 'tensorflow' && host.backend.name !== 'webgpu') {
      logger.warn({ reason: withoutNative.slice('native: '.length), backend: host.backend.name }, 'training without native kernels');
    }
    await listenForJobControl(this.deps.controlConnection, config.QUEUE_PREFIX, logger, ({ jobId, action }) => {
      this.running.get(jobId)?.abort(action satisfies AbortReason);
    });
    await this.reconcile();
    for (const device of queuesServedBy(this.deviceClass)) {
      // Each queue's BullMQ worker may fetch WORKER_CONCURRENCY jobs; the slots they share are counted in process().
      const worker = new Worker<TrainingPayload>(queueNames[device], (job, token) => this.process(job, token), {
        // BullMQ duplicates it for the blocking fetch, so the queues' workers can share it.
        connection: this.deps.connection,
        prefix: config.QUEUE_PREFIX,
        concurrency: config.WORKER_CONCURRENCY,
        maxStalledCount: MAX_STALLED,
        lockDuration: config.QUEUE_LOCK_MS,
        stalledInterval: config.QUEUE_LOCK_MS,
      });
      worker.on('failed', (job, error) => {
        if (job) void this.failIfStillOpen(job.data.jobId, error);
      });
      worker.on('error', (error) => logger.error({ err: error, queue: worker.name }, 'queue worker error'));
      this.workers.push(worker);
    }
    await Promise.all(this.workers.map((worker) => worker.waitUntilReady()));
    this.reconcileTimer = setInterval(() => {
      this.reconcile().catch((error: unknown) => logger.warn({ err: error }, 'reconciliation failed'));
    }, config.RECONCILE_INTERVAL_MS);
    this.reconcileTimer.unref();
    await this.heartbeat();
    this.heartbeatTimer = setInterval(() => {
      this.heartbeat().catch((error: unknown) => logger.warn({ err: error }, 'heartbeat failed'));
    }, config.WORKER_HEARTBEAT_MS);
    this.heartbeatTimer.unref();
    logger.info({ concurrency: config.WORKER_CONCURRENCY, worker: this.id, deviceClass: this.deviceClass, queues: this.workers.map((w) => w.name) }, 'training worker ready');
  }

  /** A heartbeat now, so the list of running jobs is current (failures only logged). */
  private beatSoon(): void {
    if (!this.closing) this.heartbeat().catch((error: unknown) => this.deps.logger.warn({ err: error }, 'heartbeat failed'));
  }

  /** Tells GET /v1/workers and /metrics that this worker is alive, and what it runs. */
  private heartbeat(): Promise<void> {
    const { config } = this.deps;
    return this.registry.beat({
      id: this.id,
      hostname: os.hostname(),
      pid: process.pid,
      backend: this.backend?.name ?? null,
      device: this.backend?.device ?? null,
      deviceClass: this.deviceClass,
      queues: this.workers.map((worker) => worker.name),
      concurrency: config.WORKER_CONCURRENCY,
      trainingThreads: config.TRAINING_THREADS ?? null,
      runningJobs: [...this.running.keys()],
      startedAt: this.startedAt,
    });
  }

  /** Stops taking jobs; running ones checkpoint and go back to the queue; stops the training processes. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    await this.registry.remove(this.id).catch((error: unknown) => this.deps.logger.warn({ err: error }, 'could not remove the heartbeat'));
    for (const controller of this.running.values()) controller.abort('shutdown' satisfies AbortReason);
    await Promise.all(this.workers.map((worker) => worker.close()));
    await this.pool.stop();
  }

  /**
   * Redis keeps nothing across a restart, PostgreSQL does: queue every job the database says is
   * waiting, re-queue running ones whose worker's lease has expired and whose queue entry is gone,
   * and settle jobs left pausing or cancelling by a worker that died.
   */
  async reconcile(): Promise<void> {
    const { queues, store, lifecycle, logger } = this.deps;
    for (const status of ['queued', 'running', 'pausing', 'cancelling'] as const) {
      let after: string | undefined;
      for (;;) {
        const page = await store.list({ limit: 100, after, status: [status] });
        for (const job of page.jobs) {
          const state = await queues.state(job.id);
          if (state !== 'unknown' && state !== 'completed' && state !== 'failed') continue;
          if (status !== 'queued' && !(await store.leaseExpired(job.id))) continue;
          if (status === 'pausing') await lifecycle.paused(job.id, 'its worker stopped; paused at its last checkpoint');
          else if (status === 'cancelling') await lifecycle.cancelled(job.id, 'its worker stopped before the cancel landed');
          else {
            if (status === 'running') await lifecycle.release(job.id, 'its worker and queue entry were lost; queued again to resume from its last checkpoint');
            if (state !== 'unknown') await queues.remove(job.id);
            await queues.enqueue(job.id, job.spec.resources.device, job.spec.priority);
            logger.info({ jobId: job.id, status }, 'reconciled job into the queue');
          }
        }
        if (!page.hasMore) break;
        after = page.jobs.at(-1)?.id;
      }
    }
  }

  /**
   * Holds one of the WORKER_CONCURRENCY slots for the job, or hands the job straight back to its
   * queue when two queues' fetches raced for the last slot. With every slot taken the BullMQ
   * workers stop fetching, so another machine gets the next job.
   */
  private async process(job: Job<TrainingPayload>, token: string | undefined): Promise<void> {
    if (this.slotsInUse >= this.deps.config.WORKER_CONCURRENCY) {
      if (token) await job.moveToWait(token);
      throw new WaitingError();
    }
    this.slotsInUse += 1;
    try {
      if (this.slotsInUse >= this.deps.config.WORKER_CONCURRENCY) await Promise.all(this.workers.map((worker) => worker.pause(true)));
      await this.train(job, token);
    } finally {
      this.slotsInUse -= 1;
      if (!this.closing) await Promise.all(this.workers.filter((worker) => worker.isPaused()).map((worker) => worker.resume()));
    }
  }

  private async train(job: Job<TrainingPayload>, token: string | undefined): Promise<void> {
    const { jobId } = job.data;
    const { store, lifecycle, logger, config } = this.deps;
    const record = await store.get(jobId);
    if (!record || terminalStatuses.has(record.status) || record.status === 'paused') return;
    // Requests that arrived while no worker held the job.
    if (record.status === 'cancelling') {
      await lifecycle.cancelled(jobId, 'cancelled while no worker held it');
      return;
    }
    if (record.status === 'pausing') {
      await lifecycle.paused(jobId, 'paused while no worker held it');
      return;
    }
    const claim = await store.claimLease(jobId, this.id, config.LEASE_MS, config.PROJECT_MAX_RUNNING_JOBS);
    if (!claim.claimed) {
      // Another worker still holds it (its lease has not expired): look again when it would have.
      // Or its project trains all the jobs it may: look again soon (GET /v1/jobs/{id} says why it waits).
      const retryMs = claim.reason === 'held' ? config.LEASE_MS : config.PROJECT_SLOT_RETRY_MS;
      if (claim.reason === 'projectFull') logger.debug({ jobId, project: claim.project, running: claim.running, limit: claim.limit }, 'project at its limit; job delayed');
      if (token) await job.moveToDelayed(Date.now() + retryMs, token);
      throw new DelayedError();
    }

    const started = performance.now();
    const controller = new AbortController();
    this.running.set(jobId, controller);
    this.beatSoon();
    const timers: NodeJS.Timeout[] = [];
    let host: Awaited<ReturnType<TrainerPool['acquire']>> | null = null;
    let recording: Promise<void> = Promise.resolve();
    let recordError: unknown = null;
    const recordInOrder = (work: () => Promise<void>) => {
      // Written in the order they happened, one at a time, so the log's seq order is training order.
      recording = recording.then(work).catch((error: unknown) => {
        recordError ??= error;
        controller.abort('cancel');
      });
    };
    try {
      host = await this.pool.acquire();
      const resume = await store.latestCheckpoint(jobId);
      const upload = await this.uploadFor(record);
      // A resumed run has its own weights; only a fresh start loads the transfer source.
      const initFrom = resume ? undefined : await this.initSourceFor(record);
      const columnsFrom = resume ? undefined : await this.columnSourcesFor(record);
      const attempt = record.attempts + 1;
      if (!(await lifecycle.start(jobId, { backend: host.backend.name, device: host.backend.device, firstStart: !record.startedAt, attempt }))) return;
      logger.info({ jobId, backend: host.backend.name, attempt, resumeFrom: resume ? { epoch: resume.epoch, step: resume.step } : null }, 'training started');

      this.watch(jobId, record, controller, timers);
      const result = await host.run(
        {
          jobId,
          spec: record.spec,
          artifactDir: config.ARTIFACT_DIR,
          ...(resume ? { resume: { path: resume.path, sha256: resume.sha256 } } : {}),
          ...(upload ? { upload } : {}),
          ...(initFrom ? { initFrom } : {}),
          ...(columnsFrom ? { columnsFrom } : {}),
        },
        {
          onEvent: (event) => recordInOrder(() => lifecycle.recordTrainingEvent(jobId, event)),
          onCheckpoint: (checkpoint) => recordInOrder(() => lifecycle.recordCheckpoint(jobId, checkpoint, record.spec.checkpoint.keep, config.ARTIFACT_DIR)),
        },
        controller.signal,
      );
      await recording;
      if (recordError) throw recordError;
      await lifecycle.succeed(jobId, result);
      logger.info({ jobId, durationMs: Math.round(result.durationMs), finalMetrics: result.finalMetrics }, 'training succeeded');
    } catch (error) {
      await recording;
      await this.settle(job, token, record, error, recordError);
    } finally {
      for (const timer of timers) clearInterval(timer);
      this.running.delete(jobId);
      this.beatSoon();
      lifecycle.forget(jobId);
      if (host) this.pool.release(host);
      await store.releaseLease(jobId, this.id, performance.now() - started).catch((error: unknown) => logger.warn({ err: error, jobId }, 'could not release lease'));
    }
  }

  /** The checkpoint `init.from` resolved to at submission, for the training process to load. */
  private async initSourceFor(record: JobRecord): Promise<RunRequest['initFrom']> {
    const from = record.spec.init?.from;
    return from ? this.checkpointFiles(from.job, from.checkpoint, 'the source checkpoint') : undefined;
  }

  /** The checkpoints of a progressive net's earlier columns, as resolved at submission. */
  private async columnSourcesFor(record: JobRecord): Promise<RunRequest['columnsFrom']> {
    const columns = record.spec.model.progressive?.columns;
    if (!columns) return undefined;
    return Promise.all(columns.map(({ job, checkpoint }) => this.checkpointFiles(job, checkpoint, 'the column checkpoint')));
  }

  /** A checkpoint another job's start depends on: its folder and checksum, or a clear failure if it was deleted since. */
  private async checkpointFiles(job: string, id: string, what: string): Promise<{ path: string; sha256: string }> {
    const checkpoint = await this.deps.store.getCheckpoint(job, id);
    if (!checkpoint) throw new TrainingSpecError(`${what} ${id} of job ${job} no longer exists`);
    return { path: checkpoint.path, sha256: checkpoint.sha256 };
  }

  /** Where an uploaded data set's rows are stored, for the training process. */
  private async uploadFor(record: JobRecord): Promise<RunRequest['upload']> {
    const ref = record.spec.dataset;
    if (ref.name !== 'upload') return undefined;
    const dataset = await this.deps.datasets.get(record.projectId, ref.id).catch(() => null);
    if (!dataset) throw new TrainingSpecError(`the uploaded data set ${ref.id} no longer exists`);
    return {
      id: dataset.id,
      folder: path.join(this.deps.config.DATA_DIR, dataset.path),
      featureSize: dataset.featureNames.length,
      labelType: dataset.labelType,
      classes: dataset.classNames.length,
    };
  }

  /** Renews the lease (and notices cancel/pause that pub/sub missed) and enforces maxRuntimeSeconds. */
  private watch(jobId: string, record: JobRecord, controller: AbortController, timers: NodeJS.Timeout[]): void {
    const { store, config, logger } = this.deps;
    const heartbeat = setInterval(() => {
      store
        .renewLease(jobId, this.id, config.LEASE_MS)
        .then((status) => {
          if (status === null) controller.abort('leaseLost' satisfies AbortReason);
          else if (status === 'cancelling') controller.abort('cancel' satisfies AbortReason);
          else if (status === 'pausing') controller.abort('pause' satisfies AbortReason);
        })
        .catch((error: unknown) => logger.warn({ err: error, jobId }, 'lease renewal failed'));
    }, Math.max(200, Math.floor(config.LEASE_MS / 3)));
    timers.push(heartbeat);
    const limit = record.spec.maxRuntimeSeconds;
    if (limit !== undefined) {
      void store.runtimeMs(jobId).then((used) => {
        if (controller.signal.aborted) return;
        timers.push(setTimeout(() => controller.abort('timeout' satisfies AbortReason), Math.max(0, limit * 1000 - used)));
      });
    }
  }

  /** Decides what a run that did not succeed becomes, from why it stopped. */
  private async settle(job: Job<TrainingPayload>, token: string | undefined, record: JobRecord, error: unknown, recordError: unknown): Promise<void> {
    const { lifecycle, logger } = this.deps;
    const jobId = record.id;
    const abortReason = !recordError && error instanceof TrainerJobError ? error.abortReason : undefined;
    switch (abortReason) {
      case 'cancel':
        await lifecycle.cancelled(jobId, 'cancelled by request');
        return;
      case 'pause':
        await lifecycle.paused(jobId, 'paused by request; a checkpoint was written');
        return;
      case 'leaseLost':
        logger.warn({ jobId }, 'lost the lease on a running job: another worker took it over; stopping here');
        return;
      case 'shutdown': {
        // A pause or cancel requested meanwhile still wins over going back to the queue.
        if ((await lifecycle.paused(jobId, 'paused; its worker shut down')) || (await lifecycle.cancelled(jobId, 'cancelled; its worker shut down'))) return;
        await lifecycle.release(jobId, 'the worker is shutting down; the job was checkpointed and returned to the queue');
        if (token) await job.moveToWait(token);
        throw new WaitingError();
      }
      case 'timeout': {
        const reason = `the job exceeded maxRuntimeSeconds (${record.spec.maxRuntimeSeconds} s of training); a checkpoint was written (GET /v1/jobs/${jobId}/checkpoints). Raise maxRuntimeSeconds or train fewer epochs`;
        await lifecycle.fail(jobId, reason);
        throw new UnrecoverableError(reason);
      }
    }
    // Lost training threads are the machine's trouble, not the spec's: another attempt resumes from the checkpoint.
    if (!recordError && error instanceof TrainerJobError && error.errorName === 'ThreadsLostError' && record.attempts < THREAD_LOSS_ATTEMPTS) {
      logger.warn({ jobId, reason: error.message, attempt: record.attempts }, 'training threads lost; the job goes back to the queue');
      await lifecycle.release(jobId, `${error.message} (attempt ${record.attempts + 1} of ${THREAD_LOSS_ATTEMPTS}); it resumes from its last checkpoint`);
      if (token) await job.moveToWait(token);
      throw new WaitingError();
    }
    const reason = describeFailure(recordError ?? error);
    logger.warn({ jobId, reason }, 'training failed');
    await lifecycle.fail(jobId, reason);
    throw new UnrecoverableError(reason);
  }

  /** BullMQ can fail a job without our processor finishing it (stalled too often): record that. */
  private async failIfStillOpen(jobId: string, error: Error): Promise<void> {
    try {
      const record = await this.deps.store.get(jobId);
      if (!record || terminalStatuses.has(record.status) || record.status === 'paused' || record.status === 'queued') return;
      await this.deps.lifecycle.fail(
        jobId,
        `the job's worker stopped responding ${MAX_STALLED + 1} times (a crashed or killed process): ${error.message}`,
      );
    } catch (recordError) {
      this.deps.logger.error({ err: recordError, jobId }, 'could not record a queue failure');
    }
  }
}

/**
 * A worker serves GPU jobs when told to, or, on auto, when its backend runs on a GPU:
 * tfjs-node-gpu, or webgpu on a hardware adapter (not Mesa's llvmpipe).
 */
export function deviceClassOf(setting: Config['WORKER_DEVICE'], backend: SelectedBackend): DeviceClass {
  if (setting !== 'auto') return setting;
  if (backend.name === 'webgpu') return backend.adapter?.software === false ? 'gpu' : 'cpu';
  return backend.name === 'tensorflow' && backend.device.startsWith('GPU') ? 'gpu' : 'cpu';
}

/** A failure reason a user can act on. */
export function describeFailure(error: unknown): string {
  if (error instanceof TrainerCrashedError) return error.message;
  if (error instanceof TrainerJobError) {
    if (error.errorName === TrainingSpecError.name) return error.message;
    return `training failed: ${error.errorName}: ${error.message}`;
  }
  if (error instanceof Error) return `training failed: ${error.message}`;
  return `training failed: ${String(error)}`;
}
