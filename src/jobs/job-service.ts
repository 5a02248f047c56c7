import type { DatasetService } from '../datasets/dataset-service.js';
import { isUuid } from '../db/ids.js';
import { ConflictError, NotFoundError, ResourceLimitError, ValidationError, fieldFromPath } from '../errors/errors.js';
import { publishJobControl } from '../events/job-control.js';
import type { JobEventPublisher } from '../events/job-event-publisher.js';
import type { Redis } from 'ioredis';
import { dependencyDown, outageOf } from '../infra/dependency-errors.js';
import type { Logger } from '../logging/logger.js';
import type { WorkerRegistry } from '../observability/worker-registry.js';
import type { TrainingQueues } from '../queue/training-queues.js';
import { describeDataset, type DatasetShape } from '../spec/dataset-spec.js';
import { resolveJobSpec, type JobSpec, type ResolvedJobSpec } from '../spec/job-spec.js';
import { type LayerSpec } from '../spec/layer-spec.js';
import { specProblems } from '../spec/spec-checks.js';
import { adviseOn, type Advice } from '../spec/advice/index.js';
import { resourceRefusal, type WorkerLimits } from '../spec/resource-limits.js';
import { planColumns, planTransfer, type TransferPlan } from '../spec/transfer-plan.js';
import { textIdRange, textOptionsSchema, type TextOptions } from '../spec/text-spec.js';
import { findSourceCheckpoint } from './transfer-source.js';
import type { JobStore, ListJobsQuery, ProjectSlots } from './job-store.js';
import type { CheckpointRecord, JobEventRecord, JobRecord, JobStatus, MetricRecord, MetricScope } from './job-types.js';

export type JobAction = 'cancel' | 'pause' | 'resume' | 'retry';

export interface JobServiceDeps {
  store: JobStore;
  queues: TrainingQueues;
  publisher: JobEventPublisher;
  datasets: DatasetService;
  workers: WorkerRegistry;
  redis: Redis;
  prefix: string;
  logger: Logger;
  artifactDir: string;
  /** The deployment's PROJECT_MAX_RUNNING_JOBS, for projects without their own limit. */
  projectMaxRunningJobs: number;
  /** What a worker's training process may use: bigger jobs are refused at submission (422). */
  limits: WorkerLimits;
}

/** A queued job with why it is not training yet, when the reason is something other than a busy worker. */
export type JobView = JobRecord & { waitingReason: string | null };
/** A job as its submission answers it: with the advice given on its spec. */
export type SubmittedJob = JobView & { advice: Advice[] };

/** What the API can do with jobs; HTTP-free so a CLI or another transport can reuse it. */
export class JobService {
  private readonly store: JobStore;
  private readonly queues: TrainingQueues;
  private readonly publisher: JobEventPublisher;
  private readonly datasets: DatasetService;
  private readonly workers: WorkerRegistry;
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly logger: Logger;
  private readonly artifactDir: string;
  private readonly projectMaxRunningJobs: number;
  private readonly limits: WorkerLimits;

  constructor(deps: JobServiceDeps) {
    this.store = deps.store;
    this.queues = deps.queues;
    this.publisher = deps.publisher;
    this.datasets = deps.datasets;
    this.workers = deps.workers;
    this.redis = deps.redis;
    this.prefix = deps.prefix;
    this.logger = deps.logger;
    this.artifactDir = deps.artifactDir;
    this.projectMaxRunningJobs = deps.projectMaxRunningJobs;
    this.limits = deps.limits;
  }

  /**
   * Why each queued job waits, when it is not just a busy worker: a GPU job with no GPU worker
   * alive, or a project already training as many jobs as it may.
   */
  async withWaitingReasons(projectId: string, jobs: JobRecord[], knownSlots?: ProjectSlots): Promise<JobView[]> {
    const queued = jobs.filter((job) => job.status === 'queued');
    if (queued.length === 0) return jobs.map((job) => ({ ...job, waitingReason: null }));
    const gpuWanted = queued.some((job) => job.spec.resources.device === 'gpu');
    const [slots, gpu] = await Promise.all([
      knownSlots ?? this.store.projectSlots(projectId, this.projectMaxRunningJobs),
      // Whether a GPU worker is alive is a hint: with Redis down the jobs are shown without it.
      gpuWanted ? this.workers.presence('gpu').catch((error: unknown) => this.withoutHintDuringOutage(error)) : Promise.resolve(null),
    ]);
    const projectFull =
      slots.running >= slots.limit
        ? `project ${slots.project} is training ${slots.running} of the ${slots.limit} jobs it may run at once; this one starts when one of them ends`
        : null;
    const noGpu =
      gpu && !gpu.alive
        ? `no GPU worker is running (${gpu.lastSeenAt ? `the last one was seen at ${gpu.lastSeenAt}` : 'none has been seen'}); the job stays queued until one starts`
        : null;
    return jobs.map((job) => ({
      ...job,
      waitingReason: job.status !== 'queued' ? null : ((job.spec.resources.device === 'gpu' ? noGpu : null) ?? projectFull),
    }));
  }

  async view(projectId: string, job: JobRecord): Promise<JobView> {
    return (await this.withWaitingReasons(projectId, [job]))[0]!;
  }

  /** One job as the API shows it, read with its waiting reason's inputs in one round trip. */
  async getView(projectId: string, id: string): Promise<JobView> {
    const found = isUuid(id) ? await this.store.getWithSlots(id, projectId, this.projectMaxRunningJobs) : null;
    if (!found) throw new NotFoundError('job', id);
    return (await this.withWaitingReasons(projectId, [found.job], found.slots ?? undefined))[0]!;
  }

  /**
   * Records and queues the job; answers it as the API shows it, with the advice its spec gets
   * (recorded as its second event, never a reason to refuse it).
   */
  async submit(projectId: string, spec: JobSpec): Promise<SubmittedJob> {
    const { resolved, advice } = await this.prepare(projectId, spec);
    // Nothing is recorded while Redis is known to be down: the client's retry must not make a second job.
    this.requireRedis('the job was not submitted');
    const { job, events, slots } = await this.store.create(projectId, resolved, this.projectMaxRunningJobs, advice);
    await this.launch(job, events);
    return { ...(await this.withWaitingReasons(projectId, [job], slots))[0]!, advice };
  }

  /**
   * Checks a spec against what only the database knows (uploads, transfer sources, limits) and
   * resolves it: what submitting it would record, without recording anything. A 400/422 when it
   * would be refused.
   */
  async prepare(projectId: string, submitted: JobSpec): Promise<{ resolved: ResolvedJobSpec; info: DatasetShape; advice: Advice[] }> {
    const upload = submitted.dataset.name === 'upload' ? await this.checkAgainstUpload(projectId, submitted, submitted.dataset.id) : undefined;
    // A text set's options are recorded with every default, like the rest of the spec.
    const spec = upload?.text && submitted.dataset.name === 'upload' ? { ...submitted, dataset: { ...submitted.dataset, text: upload.text } } : submitted;
    const info = upload ?? describeDataset(spec.dataset)!;
    const transfer = spec.init ? await this.planTransfer(projectId, spec, info) : undefined;
    const columns = spec.model.progressive ? await this.planColumns(projectId, spec, info) : undefined;
    const resolved = resolveJobSpec(spec, { datasetClasses: upload?.classes, transfer, columns });
    // A job that cannot fit a training process is refused here, not left to take the machine.
    const refusal = resourceRefusal(resolved, info, this.limits);
    if (refusal) throw new ResourceLimitError(refusal.detail, [{ field: refusal.field, message: refusal.message }], { ...refusal.extensions });
    return { resolved, info, advice: adviseOn(resolved, info) };
  }

  /** Announces a job's first events and queues it, once it is recorded (by submit, or by a study's scheduler). */
  async launch(job: JobRecord, events: JobEventRecord[]): Promise<void> {
    // Side by side: a stream that sees the worker's `running` before this job's first events reads
    // them back from PostgreSQL, so neither waits for the other.
    await Promise.all([this.announce(job.id, events), this.enqueueOrLeaveToReconciliation(job)]);
  }

  /** Announces a job's status change (made by a study's scheduler) and queues the job when it went back to the queue. */
  async afterTransition(job: JobRecord, event: JobEventRecord): Promise<void> {
    await this.announce(job.id, [event]);
    if (event.data.status === 'queued') await this.enqueueOrLeaveToReconciliation(job, 'again');
  }

  /** Which layers load from which source checkpoint, which freeze, where a probe cuts: checked before anything is queued. */
  private async planTransfer(projectId: string, spec: JobSpec, info: DatasetShape): Promise<TransferPlan> {
    const from = spec.init!.from;
    const refs = Array.isArray(from) ? from : [from];
    const sources = await Promise.all(
      refs.map(async (ref, i) => ({
        ...(await findSourceCheckpoint(this.store, this.artifactDir, projectId, ref, Array.isArray(from) ? `init.from[${i}]` : 'init.from')),
        ...(ref.layers ? { layers: ref.layers } : {}),
      })),
    );
    const plan = planTransfer(spec, info, sources);
    if ('problems' in plan) throw invalidSpec(plan.problems);
    return plan;
  }

  /** A progressive net's columns: each a prior job's dense stack at a checkpoint that exists. */
  private async planColumns(projectId: string, spec: JobSpec, info: DatasetShape): Promise<{ job: string; checkpoint: string; layers: LayerSpec[] }[]> {
    const sources = await Promise.all(
      spec.model.progressive!.columns.map(async (column, i) => {
        const checkpoint = await findSourceCheckpoint(this.store, this.artifactDir, projectId, column, `model.progressive.columns[${i}]`);
        return { checkpoint, model: (await this.store.get(column.job))!.spec.model };
      }),
    );
    const plan = planColumns(info, sources);
    if ('problems' in plan) throw invalidSpec(plan.problems);
    return plan.columns;
  }

  /** The shape checks the schema could not make: an upload's shape is in the database. */
  private async checkAgainstUpload(projectId: string, spec: JobSpec, datasetId: string): Promise<DatasetShape & { text?: TextOptions }> {
    const dataset = await this.datasets.get(projectId, datasetId).catch((error: unknown) => {
      if (error instanceof NotFoundError) return null;
      throw error;
    });
    if (!dataset) throw new ValidationError('invalid job spec', [{ field: 'dataset.id', message: `no uploaded data set ${datasetId} (GET /v1/datasets lists them)` }]);
    const regression = dataset.labelType === 'number';
    const asked = spec.dataset.name === 'upload' ? spec.dataset.text : undefined;
    if (asked && !dataset.textColumn) {
      throw new ValidationError('invalid job spec', [{ field: 'dataset.text', message: `data set ${datasetId} is not a text set (it was uploaded without \`text\`)` }]);
    }
    const text = dataset.textColumn ? textOptionsSchema.parse(asked ?? {}) : undefined;
    if (text && spec.preprocessing?.features !== undefined && spec.preprocessing.features !== 'none') {
      throw new ValidationError('invalid job spec', [{ field: 'preprocessing.features', message: 'a text set\'s rows are token ids: there are no features to scale' }]);
    }
    const shape: DatasetShape & { text?: TextOptions } = {
      rows: dataset.rows,
      featureSize: text ? text.length : dataset.featureSize,
      classes: regression ? 0 : dataset.classNames.length,
      ...(dataset.inputShape ? { inputShape: dataset.inputShape } : {}),
      ...(text ? { inputShape: [text.length], vocabulary: textIdRange(text), text } : {}),
      ...(regression ? { outputShape: [1] } : {}),
      // An image archive's val/ and test/ folders are the job's validation and test sets.
      ...(dataset.splits?.validation?.rows ? { fixedValidationRows: dataset.splits.validation.rows } : {}),
      ...(dataset.splits?.test?.rows ? { fixedTestRows: dataset.splits.test.rows } : {}),
      ...this.streamingOf(dataset.rows * dataset.featureSize * 4, text !== undefined),
    };
    const problems = specProblems(spec, shape);
    if (problems.length > 0) throw invalidSpec(problems);
    return shape;
  }

  /** Whether the training process will stream this upload's features.f32 (its size decides there too: src/datasets/dataset-files.ts). */
  private streamingOf(featureBytes: number, text: boolean): Pick<DatasetShape, 'streamed'> {
    const inMemoryBytes = this.limits.inMemoryBytes;
    return !text && inMemoryBytes !== undefined && featureBytes > inMemoryBytes ? { streamed: { featureBytes, inMemoryBytes } } : {};
  }

  /** Another project's job is a 404 like a missing one: its existence is not this caller's business. */
  async get(projectId: string, id: string): Promise<JobRecord> {
    const job = isUuid(id) ? await this.store.get(id) : null;
    if (!job || job.projectId !== projectId) throw new NotFoundError('job', id);
    return job;
  }

  /** A page of the project's jobs as the API shows them, read in one round trip. */
  async list(projectId: string, query: Omit<ListJobsQuery, 'projectId'>): Promise<{ jobs: JobView[]; hasMore: boolean }> {
    const page = await this.store.listWithSlots({ ...query, projectId }, this.projectMaxRunningJobs);
    return { jobs: await this.withWaitingReasons(projectId, page.jobs, page.slots), hasMore: page.hasMore };
  }

  async events(projectId: string, id: string, afterSeq: number, limit: number): Promise<JobEventRecord[]> {
    await this.assertExists(projectId, id);
    return this.store.listEvents(id, afterSeq, limit);
  }

  async metrics(projectId: string, id: string, query: { scope?: MetricScope; afterStep: number; limit: number }): Promise<MetricRecord[]> {
    await this.assertExists(projectId, id);
    return this.store.listMetrics(id, query);
  }

  async checkpoints(projectId: string, id: string): Promise<CheckpointRecord[]> {
    await this.assertExists(projectId, id);
    return (await this.store.listCheckpoints(id)).map(({ path: _path, ...record }) => record);
  }

  /** The folder (relative to the artifact root) of a checkpoint, or of the final model with `'final'`. */
  async checkpointFolder(projectId: string, id: string, checkpointId: string | 'final'): Promise<string> {
    const job = await this.get(projectId, id);
    if (checkpointId === 'final') {
      const final = await this.store.latestCheckpoint(id, 'final');
      if (!final) throw new NotFoundError('final model of job', `${id} (status ${job.status}; it exists once the job has succeeded)`);
      return final.path;
    }
    const checkpoint = isUuid(checkpointId) ? await this.store.getCheckpoint(id, checkpointId) : null;
    if (!checkpoint) throw new NotFoundError('checkpoint', `${checkpointId} of job ${id}`);
    return checkpoint.path;
  }

  /**
   * Cancel: a waiting or paused job ends at once; a running one is asked to stop (it ends within a
   * batch, wherever its worker runs). Pause: a running job checkpoints and frees its worker.
   * Resume: a paused job is queued again and continues from its checkpoint. Retry: a failed job
   * is queued again with a fresh restart budget and continues from its last checkpoint.
   */
  async act(projectId: string, id: string, action: JobAction): Promise<JobRecord> {
    const job = await this.get(projectId, id);
    const plan = actionPlan[action][job.status];
    if (plan === undefined) {
      throw new ConflictError(`cannot ${action} job ${id}: it is ${job.status}${actionHints[action] ?? ''}`, {
        currentStatus: job.status,
      });
    }
    if (plan !== null) {
      // Refused before anything changes while Redis is down: the job's worker would never hear of a cancel or pause.
      if (plan.relay || plan.to === 'queued') this.requireRedis(`job ${id} was not ${pastTense[action]}`);
      const event = await this.store.transition(
        id,
        {
          status: plan.to,
          from: [job.status],
          ...(plan.to === 'cancelled' ? { finishedAt: new Date() } : {}),
          ...(action === 'retry' ? { failureReason: null, finishedAt: null, resetRestarts: true } : {}),
        },
        { reason: action === 'retry' ? 'retry requested; it resumes from its last checkpoint' : `${action} requested` },
      );
      // The job moved on between our read and write (a worker started or finished it): decide again.
      if (!event) return this.act(projectId, id, action);
      await this.announce(id, [event]);
      if (plan.removeFromQueue) await this.queues.remove(id).catch((error: unknown) => this.logger.warn({ err: error, jobId: id }, 'could not remove job from the queue'));
      if (plan.relay) await publishJobControl(this.redis, this.prefix, { jobId: id, action: plan.relay });
      if (plan.to === 'queued') await this.enqueueOrLeaveToReconciliation(job, 'again');
    }
    return this.get(projectId, id);
  }

  /** Throws the 503 that says Redis is down, while its connection is known to be down. */
  private requireRedis(consequence: string): void {
    if (this.redis.status !== 'ready') throw dependencyDown('redis', consequence);
  }

  /**
   * Queues a job PostgreSQL already records as queued. Should Redis fail right now, the job is not
   * lost: every worker's reconciliation queues the queued jobs the database knows (at its start
   * and every RECONCILE_INTERVAL_MS), so the answer stays a success rather than a 503 that would
   * make the client submit the job a second time.
   */
  /** `again`: a resumed or retried job, whose earlier queue entry BullMQ may still keep. */
  private async enqueueOrLeaveToReconciliation(job: JobRecord, again?: 'again'): Promise<void> {
    try {
      if (again) await this.queues.requeue(job.id, job.spec.resources.device, job.spec.priority);
      else await this.queues.enqueue(job.id, job.spec.resources.device, job.spec.priority);
    } catch (error) {
      if (outageOf(error) !== 'redis') throw error;
      this.logger.warn({ err: error, jobId: job.id }, 'could not queue the job: Redis is down; a worker will queue it once it is back');
    }
  }

  private withoutHintDuringOutage(error: unknown): null {
    if (outageOf(error) !== 'redis') throw error;
    return null;
  }

  async assertExists(projectId: string, id: string): Promise<void> {
    if (!isUuid(id) || !(await this.store.exists(id, projectId))) throw new NotFoundError('job', id);
  }

  private async announce(id: string, events: JobEventRecord[]): Promise<void> {
    await this.publisher.publishAll(id, events).catch((error: unknown) => this.logger.warn({ err: error, jobId: id }, 'publish failed'));
  }
}

const pastTense: Record<JobAction, string> = { cancel: 'cancelled', pause: 'paused', resume: 'resumed', retry: 'retried' };

interface ActionStep {
  to: JobStatus;
  removeFromQueue?: boolean;
  relay?: 'cancel' | 'pause';
}

/** For each action, the statuses in which the API accepts it (any other is a 409): what a UI may offer. */
export function actionSources(): Record<JobAction, JobStatus[]> {
  return Object.fromEntries(Object.entries(actionPlan).map(([action, plan]) => [action, Object.keys(plan)])) as Record<JobAction, JobStatus[]>;
}

/** For each action and current status: the step to take, null when already done, absent when illegal (409). */
const actionPlan: Record<JobAction, Partial<Record<JobStatus, ActionStep | null>>> = {
  cancel: {
    queued: { to: 'cancelled', removeFromQueue: true },
    paused: { to: 'cancelled' },
    running: { to: 'cancelling', relay: 'cancel' },
    pausing: { to: 'cancelling', relay: 'cancel' },
    cancelling: null,
  },
  pause: {
    queued: { to: 'paused', removeFromQueue: true },
    running: { to: 'pausing', relay: 'pause' },
    pausing: null,
    paused: null,
  },
  resume: {
    paused: { to: 'queued' },
  },
  retry: {
    failed: { to: 'queued' },
  },
};

const actionHints: Partial<Record<JobAction, string>> = {
  resume: ' (only a paused job can be resumed)',
  retry: ' (only a failed job can be retried)',
};


/** Problems found against the database or the checkpoints: a 400 naming each field, like the schema's own. */
function invalidSpec(problems: { path: (string | number)[]; message: string }[]): ValidationError {
  return new ValidationError(
    `invalid job spec: ${problems.map((p) => `${fieldFromPath(p.path)}: ${p.message}`).join('; ')}`,
    problems.map((p) => ({ field: fieldFromPath(p.path), message: p.message })),
  );
}
