import { randomUUID } from 'node:crypto';
import path from 'node:path';
import os from 'node:os';
import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import { NotFoundError } from '../errors/errors.js';
import type { DatasetService } from '../datasets/dataset-service.js';
import { TrainingSpecError, type AbortReason, type TrainingResult } from '../engine/events.js';
import { listenForJobControl } from '../events/job-control.js';
import type { Services } from '../infra/services.js';
import type { JobLifecycle } from '../jobs/job-lifecycle.js';
import { terminalStatuses } from '../jobs/job-state-machine.js';
import type { JobStore } from '../jobs/job-store.js';
import { WorkerRegistry } from '../observability/worker-registry.js';
import { backendChoiceOf, type SelectedBackend } from '../engine/backend.js';
import type { JobRecord } from '../jobs/job-types.js';
import { initSources } from '../spec/init-spec.js';
import type { Logger } from '../logging/logger.js';
import { queueNames, queuesServedBy, type DeviceClass, type TrainingPayload, type TrainingQueues } from '../queue/training-queues.js';
import { EventWriter } from './event-writer.js';
import { budgetSpentReason, classifyFailure, restartDelayMs } from './restart-policy.js';
import { TrainerJobError } from './trainer-host.js';
import type { RunRequest } from './trainer-protocol.js';
import { TrainerPool } from './trainer-pool.js';

// BullMQ's own stall limit would fail a job whose workers keep dying; spec.maxRestarts decides
// instead (a takeover of a job left running is counted there), so BullMQ's is out of the way.
const MAX_STALLED = 1_000_000;
/** How long a finished run may wait for its last events to reach PostgreSQL (an outage) before it is given up and redone. */
const FINAL_WRITE_MS = 60_000;

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
  /** Jobs this worker stopped because it could not renew their lease: why, for the restart's cause. */
  private readonly fenced = new Map<string, string>();

  constructor(private readonly deps: TrainingWorkerDeps) {
    this.registry = new WorkerRegistry(deps.connection, deps.config.QUEUE_PREFIX, deps.config.WORKER_HEARTBEAT_MS);
    this.pool = new TrainerPool(deps.config.WORKER_CONCURRENCY, backendChoiceOf(deps.config), deps.config.TRAINING_THREADS, deps.logger, deps.config.WORKER_MEMORY_LIMIT_MB, deps.config.TRAINING_IN_MEMORY_BYTES);
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
        // A dead worker's job is handed on between one and one and a half lock durations after its last renewal.
        stalledInterval: Math.max(500, Math.floor(config.QUEUE_LOCK_MS / 2)),
      });
      worker.on('failed', (job, error) => {
        if (job) void this.failIfStillOpen(job.data.jobId, error);
      });
      worker.on('error', (error) => logger.error({ err: error, queue: worker.name }, 'queue worker error'));
      this.workers.push(worker);
    }
    await Promise.all(this.workers.map((worker) => worker.waitUntilReady()));
    // Redis keeps nothing across a restart: once it is back, put the jobs PostgreSQL knows back in the queue.
    let connected = true;
    this.deps.connection.on('close', () => {
      connected = false;
    });
    this.deps.connection.on('ready', () => {
      if (connected || this.closing) return;
      connected = true;
      this.reconcile().catch((error: unknown) => logger.warn({ err: error }, 'reconciliation after a Redis reconnect failed'));
    });
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
    const lost: JobRecord[] = [];
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
          else lost.push(job);
        }
        if (!page.hasMore) break;
        after = page.jobs.at(-1)?.id;
      }
    }
    // Ids are UUIDv7: in creation order, the jobs keep the first-in-first-out order they had.
    lost.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const job of lost) {
      // A running job left without a worker stays `running`: the worker that takes it counts the restart.
      if ((await queues.state(job.id)) !== 'unknown') await queues.remove(job.id);
      await queues.enqueue(job.id, job.spec.resources.device, job.spec.priority);
      logger.info({ jobId: job.id, status: job.status }, 'reconciled job into the queue');
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
    let record = await store.get(jobId);
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
      // Another worker still holds it: look again the moment its lease would expire.
      // Or its project trains all the jobs it may: look again soon (GET /v1/jobs/{id} says why it waits).
      const retryMs = claim.reason === 'held' ? claim.retryInMs + 100 : config.PROJECT_SLOT_RETRY_MS;
      if (claim.reason === 'projectFull') logger.debug({ jobId, project: claim.project, running: claim.running, limit: claim.limit }, 'project at its limit; job delayed');
      if (token) await job.moveToDelayed(Date.now() + retryMs, token);
      throw new DelayedError();
    }
    if (record.status === 'running') {
      // Still `running` with its lease expired: the worker (or training process) that held it died.
      const cause = this.fenced.get(jobId) ?? 'its worker process stopped (killed or crashed) while training';
      this.fenced.delete(jobId);
      const next = await this.restartOrFail(record, cause);
      if (next !== 'restart') return;
      record = (await store.get(jobId)) ?? record;
    }

    const started = performance.now();
    const controller = new AbortController();
    this.running.set(jobId, controller);
    this.beatSoon();
    const timers: NodeJS.Timeout[] = [];
    let host: Awaited<ReturnType<TrainerPool['acquire']>> | null = null;
    const writer = new EventWriter(jobId, {
      store,
      logger,
      committed: (events) => lifecycle.announceAll(jobId, events),
      checkpointCommitted: () => lifecycle.pruneCheckpoints(jobId, record.spec.checkpoint.keep, config.ARTIFACT_DIR),
    });
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
          ...(record.pauseAtEpoch !== null && record.pauseAtEpoch < record.spec.epochs ? { pauseAfterEpoch: record.pauseAtEpoch } : {}),
          ...(upload ? { upload } : {}),
          ...(initFrom ? { initFrom } : {}),
          ...(columnsFrom ? { columnsFrom } : {}),
        },
        { onEvent: (event, at) => writer.event(event, at), onCheckpoint: (checkpoint, at) => writer.checkpoint(checkpoint, at) },
        controller.signal,
      );
      await writer.drain(FINAL_WRITE_MS);
      await this.finish(jobId, result);
    } catch (error) {
      await this.settle(job, token, record, error, writer);
    } finally {
      writer.stop();
      for (const timer of timers) clearInterval(timer);
      this.running.delete(jobId);
      this.beatSoon();
      if (host) this.pool.release(host);
      await store.releaseLease(jobId, this.id, performance.now() - started).catch((error: unknown) => logger.warn({ err: error, jobId }, 'could not release lease'));
    }
  }

  /** Records success, or the pause at pauseAtEpoch; a PostgreSQL outage at that moment is waited out (the result is in hand). */
  private async finish(jobId: string, result: TrainingResult): Promise<void> {
    const { lifecycle } = this.deps;
    if (result.pausedAtEpoch !== undefined) {
      const epoch = result.pausedAtEpoch;
      // A pause or cancel requested meanwhile is honoured at the same checkpoint.
      await this.persist(
        async () =>
          (await lifecycle.pausedAtEpoch(jobId, epoch)) ||
          (await lifecycle.paused(jobId, `paused by request at the end of epoch ${epoch}`)) ||
          (await lifecycle.cancelled(jobId, `cancelled by request at the end of epoch ${epoch}`)),
        FINAL_WRITE_MS,
      );
      this.deps.logger.info({ jobId, epoch }, 'training paused at its pauseAtEpoch');
      return;
    }
    await this.persist(() => lifecycle.succeed(jobId, result), FINAL_WRITE_MS);
    this.deps.logger.info({ jobId, durationMs: Math.round(result.durationMs), finalMetrics: result.finalMetrics }, 'training succeeded');
  }

  /** Retries a status write through a short outage, for up to `withinMs`. */
  private async persist<T>(write: () => Promise<T>, withinMs: number): Promise<T> {
    const deadline = Date.now() + withinMs;
    let delay = 100;
    for (;;) {
      try {
        return await write();
      } catch (error) {
        if (Date.now() + delay > deadline || classifyFailure(error).kind !== 'restart') throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(2_000, delay * 2);
      }
    }
  }

  /**
   * Counts a restart against spec.maxRestarts and puts the job back in the queue, or fails it
   * with every cause once the budget is spent. The queue entry itself is the caller's to move.
   */
  private async restartOrFail(record: JobRecord, cause: string): Promise<'restart' | 'failed'> {
    const { lifecycle, logger } = this.deps;
    const { maxRestarts } = record.spec;
    if (record.restarts >= maxRestarts) {
      const reason = budgetSpentReason(record.restartCauses, cause, maxRestarts);
      logger.warn({ jobId: record.id, restarts: record.restarts, cause }, 'restart budget spent; the job fails');
      await lifecycle.fail(record.id, reason);
      return 'failed';
    }
    const restart = record.restarts + 1;
    logger.warn({ jobId: record.id, restart, maxRestarts, cause }, 'restarting the job from its last checkpoint');
    await lifecycle.restart(record.id, cause, { restart, maxRestarts, retryInMs: restartDelayMs(restart) });
    return 'restart';
  }

  /** The checkpoints `init.from` resolved to at submission, for the training process to load. */
  private async initSourceFor(record: JobRecord): Promise<RunRequest['initFrom']> {
    const init = record.spec.init;
    return init ? Promise.all(initSources(init).map(({ job, checkpoint }) => this.checkpointFiles(job, checkpoint, 'the source checkpoint'))) : undefined;
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
    // Only a data set that is gone fails the job; a database outage is a restartable error.
    const dataset = await this.deps.datasets.get(record.projectId, ref.id).catch((error: unknown) => {
      if (error instanceof NotFoundError) return null;
      throw error;
    });
    if (!dataset) throw new TrainingSpecError(`the uploaded data set ${ref.id} no longer exists`);
    return {
      id: dataset.id,
      folder: path.join(this.deps.config.DATA_DIR, dataset.path),
      featureSize: dataset.featureSize,
      ...(dataset.inputShape ? { inputShape: dataset.inputShape } : {}),
      labelType: dataset.labelType,
      classes: dataset.classNames.length,
      ...(dataset.splits?.validation?.rows || dataset.splits?.test?.rows
        ? { heldOut: { validation: dataset.splits.validation?.rows ?? 0, test: dataset.splits.test?.rows ?? 0 } }
        : {}),
      ...(dataset.textColumn ? { text: true } : {}),
    };
  }

  /**
   * Renews the lease (and notices cancel/pause that pub/sub missed) and enforces
   * maxRuntimeSeconds. A worker that cannot renew its lease before it expires stops training
   * (fenced), so the job is never trained by two workers at once even when this one merely lost
   * PostgreSQL; shorter outages are ridden out.
   */
  private watch(jobId: string, record: JobRecord, controller: AbortController, timers: NodeJS.Timeout[]): void {
    const { store, config, logger } = this.deps;
    let renewedAt = Date.now();
    let renewing = false;
    const heartbeat = setInterval(() => {
      if (renewing) return;
      renewing = true;
      const sentAt = Date.now();
      store
        .renewLease(jobId, this.id, config.LEASE_MS)
        .then((status) => {
          renewedAt = sentAt;
          if (status === null) controller.abort('leaseLost' satisfies AbortReason);
          else if (status === 'cancelling') controller.abort('cancel' satisfies AbortReason);
          else if (status === 'pausing') controller.abort('pause' satisfies AbortReason);
        })
        .catch((error: unknown) => {
          const silentMs = Date.now() - renewedAt;
          logger.warn({ err: error, jobId, silentMs }, 'lease renewal failed');
          // A margin for clock rate and the next renewal's round trip: stop before the lease can lapse.
          if (silentMs > config.LEASE_MS * 0.8 && !controller.signal.aborted) {
            this.fenced.set(jobId, `the worker could not reach PostgreSQL for ${Math.round(silentMs / 1000)} s and stopped training (its lease would have lapsed)`);
            controller.abort('fenced' satisfies AbortReason);
          }
        })
        .finally(() => {
          renewing = false;
        });
    }, Math.max(100, Math.floor(config.LEASE_MS / 4)));
    timers.push(heartbeat);
    const limit = record.spec.maxRuntimeSeconds;
    if (limit !== undefined) {
      void store
        .runtimeMs(jobId)
        .then((used) => {
          if (controller.signal.aborted) return;
          timers.push(setTimeout(() => controller.abort('timeout' satisfies AbortReason), Math.max(0, limit * 1000 - used)));
        })
        .catch((error: unknown) => logger.warn({ err: error, jobId }, 'could not read the runtime used; maxRuntimeSeconds is not enforced this attempt'));
    }
  }

  /** Decides what a run that did not succeed becomes, from why it stopped. */
  private async settle(job: Job<TrainingPayload>, token: string | undefined, record: JobRecord, error: unknown, writer: EventWriter): Promise<void> {
    const { lifecycle, logger } = this.deps;
    const jobId = record.id;
    const abortReason = error instanceof TrainerJobError ? error.abortReason : undefined;
    if (abortReason === 'leaseLost') {
      logger.warn({ jobId }, 'lost the lease on a running job: another worker took it over; stopping here');
      return;
    }
    if (abortReason === 'fenced') {
      // The job stays `running` with a lapsing lease: whoever takes it next (this worker too) counts the restart.
      logger.warn({ jobId }, 'stopped training: could not renew the lease; the job is handed on');
      writer.stop();
      if (token) await job.moveToDelayed(Date.now() + this.deps.config.LEASE_MS, token);
      throw new DelayedError();
    }
    // What training wrote before it stopped goes in first, through a short outage.
    await writer.drain(FINAL_WRITE_MS).catch((drainError: unknown) => logger.warn({ err: drainError, jobId }, 'events of the stopped run were not recorded; the next attempt redoes them'));
    switch (abortReason) {
      case 'cancel':
        await lifecycle.cancelled(jobId, 'cancelled by request');
        return;
      case 'pause':
        await lifecycle.paused(jobId, 'paused by request; a checkpoint was written');
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
    const outcome = classifyFailure(error);
    logger.warn({ err: error, jobId, outcome: outcome.kind }, 'training stopped on an error');
    const current = (await this.persist(() => this.deps.store.get(jobId), FINAL_WRITE_MS)) ?? record;
    // A pause or cancel that raced the failure: honour it rather than restarting.
    if (current.status === 'pausing' && (await lifecycle.paused(jobId, 'paused; its run had stopped on an error'))) return;
    if (current.status === 'cancelling' && (await lifecycle.cancelled(jobId, 'cancelled; its run had stopped on an error'))) return;
    if (outcome.kind === 'fail') {
      await lifecycle.fail(jobId, outcome.reason);
      throw new UnrecoverableError(outcome.reason);
    }
    if ((await this.restartOrFail(current, outcome.cause)) === 'failed') throw new UnrecoverableError(outcome.cause);
    if (token) await job.moveToDelayed(Date.now() + restartDelayMs(current.restarts + 1), token);
    throw new DelayedError();
  }

  /** BullMQ can fail a job without our processor finishing it (stalled too often): record that. */
  private async failIfStillOpen(jobId: string, error: Error): Promise<void> {
    try {
      const record = await this.deps.store.get(jobId);
      if (!record || terminalStatuses.has(record.status) || record.status === 'paused' || record.status === 'queued') return;
      await this.deps.lifecycle.fail(jobId, `the queue gave the job up: ${error.message}`);
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
