import type { DatasetService } from '../datasets/dataset-service.js';
import { isUuid } from '../db/ids.js';
import { ConflictError, NotFoundError, UnavailableError, ValidationError, fieldFromPath } from '../errors/errors.js';
import { publishJobControl } from '../events/job-control.js';
import type { JobEventPublisher } from '../events/job-event-publisher.js';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import { enqueueTraining, type TrainingQueue } from '../queue/queues.js';
import { describeDataset, resolveJobSpec, specProblems, type DatasetShape, type JobSpec, type LayerSpec } from '../spec/job-spec.js';
import { planColumns, planTransfer, type TransferPlan } from '../spec/transfer-plan.js';
import { findSourceCheckpoint } from './transfer-source.js';
import type { JobStore, ListJobsQuery } from './job-store.js';
import type { CheckpointRecord, JobEventRecord, JobRecord, JobStatus, MetricRecord, MetricScope } from './job-types.js';

export type JobAction = 'cancel' | 'pause' | 'resume';

/** What the API can do with jobs; HTTP-free so a CLI or another transport can reuse it. */
export class JobService {
  constructor(
    private readonly store: JobStore,
    private readonly queue: TrainingQueue,
    private readonly publisher: JobEventPublisher,
    private readonly datasets: DatasetService,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly logger: Logger,
    private readonly artifactDir: string,
  ) {}

  async submit(spec: JobSpec): Promise<JobRecord> {
    const upload = spec.dataset.name === 'upload' ? await this.checkAgainstUpload(spec, spec.dataset.id) : undefined;
    const info = upload ?? describeDataset(spec.dataset)!;
    const transfer = spec.init ? await this.planTransfer(spec, info) : undefined;
    const columns = spec.model.progressive ? await this.planColumns(spec, info) : undefined;
    const { job, event } = await this.store.create(resolveJobSpec(spec, { datasetClasses: upload?.classes, transfer, columns }));
    await this.announce(job.id, event);
    try {
      await enqueueTraining(this.queue, job.id, job.spec.priority);
    } catch (error) {
      // The job row exists; a worker's reconciliation enqueues queued jobs it finds, so this is not lost.
      this.logger.error({ err: error, jobId: job.id }, 'could not enqueue job');
      throw new UnavailableError(`job ${job.id} was recorded but could not be queued: Redis did not answer. It will be queued when a worker starts`);
    }
    return job;
  }

  /** Which layers load from the source checkpoint, which freeze, where a probe cuts: checked before anything is queued. */
  private async planTransfer(spec: JobSpec, info: DatasetShape): Promise<TransferPlan> {
    const source = await findSourceCheckpoint(this.store, this.artifactDir, spec.init!.from);
    const plan = planTransfer(spec, info, source);
    if ('problems' in plan) throw invalidSpec(plan.problems);
    return plan;
  }

  /** A progressive net's columns: each a prior job's dense stack at a checkpoint that exists. */
  private async planColumns(spec: JobSpec, info: DatasetShape): Promise<{ job: string; checkpoint: string; layers: LayerSpec[] }[]> {
    const sources = await Promise.all(
      spec.model.progressive!.columns.map(async (column) => {
        const checkpoint = await findSourceCheckpoint(this.store, this.artifactDir, column);
        return { checkpoint, model: (await this.store.get(column.job))!.spec.model };
      }),
    );
    const plan = planColumns(info, sources);
    if ('problems' in plan) throw invalidSpec(plan.problems);
    return plan.columns;
  }

  /** The shape checks the schema could not make: an upload's shape is in the database. */
  private async checkAgainstUpload(spec: JobSpec, datasetId: string): Promise<DatasetShape> {
    const dataset = await this.datasets.get(datasetId).catch(() => null);
    if (!dataset) throw new ValidationError('invalid job spec', [{ field: 'dataset.id', message: `no uploaded data set ${datasetId} (GET /v1/datasets lists them)` }]);
    const regression = dataset.labelType === 'number';
    const shape: DatasetShape = {
      rows: dataset.rows,
      featureSize: dataset.featureNames.length,
      classes: regression ? 0 : dataset.classNames.length,
      ...(regression ? { outputShape: [1] } : {}),
    };
    const problems = specProblems(spec, shape);
    if (problems.length > 0) throw invalidSpec(problems);
    return shape;
  }

  async get(id: string): Promise<JobRecord> {
    const job = isUuid(id) ? await this.store.get(id) : null;
    if (!job) throw new NotFoundError('job', id);
    return job;
  }

  list(query: ListJobsQuery): Promise<{ jobs: JobRecord[]; hasMore: boolean }> {
    return this.store.list(query);
  }

  async events(id: string, afterSeq: number, limit: number): Promise<JobEventRecord[]> {
    await this.assertExists(id);
    return this.store.listEvents(id, afterSeq, limit);
  }

  async metrics(id: string, query: { scope?: MetricScope; afterStep: number; limit: number }): Promise<MetricRecord[]> {
    await this.assertExists(id);
    return this.store.listMetrics(id, query);
  }

  async checkpoints(id: string): Promise<CheckpointRecord[]> {
    await this.assertExists(id);
    return (await this.store.listCheckpoints(id)).map(({ path: _path, ...record }) => record);
  }

  /** The folder (relative to the artifact root) of a checkpoint, or of the final model with `'final'`. */
  async checkpointFolder(id: string, checkpointId: string | 'final'): Promise<string> {
    const job = await this.get(id);
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
   * Resume: a paused job is queued again and continues from its checkpoint.
   */
  async act(id: string, action: JobAction): Promise<JobRecord> {
    const job = await this.get(id);
    const plan = actionPlan[action][job.status];
    if (plan === undefined) {
      throw new ConflictError(`cannot ${action} job ${id}: it is ${job.status}${action === 'resume' ? ' (only a paused job can be resumed)' : ''}`, {
        currentStatus: job.status,
      });
    }
    if (plan !== null) {
      const event = await this.store.transition(id, { status: plan.to, ...(plan.to === 'cancelled' ? { finishedAt: new Date() } : {}) }, { reason: `${action} requested` });
      // The job moved on between our read and write (a worker started or finished it): decide again.
      if (!event) return this.act(id, action);
      await this.announce(id, event);
      if (plan.removeFromQueue) await this.queue.remove(id).catch((error: unknown) => this.logger.warn({ err: error, jobId: id }, 'could not remove job from the queue'));
      if (plan.relay) await publishJobControl(this.redis, this.prefix, { jobId: id, action: plan.relay });
      if (plan.to === 'queued') await enqueueTraining(this.queue, id, job.spec.priority);
    }
    return this.get(id);
  }

  async assertExists(id: string): Promise<void> {
    if (!isUuid(id) || !(await this.store.exists(id))) throw new NotFoundError('job', id);
  }

  private async announce(id: string, event: JobEventRecord): Promise<void> {
    await this.publisher.publish(id, event).catch((error: unknown) => this.logger.warn({ err: error, jobId: id }, 'publish failed'));
  }
}

interface ActionStep {
  to: JobStatus;
  removeFromQueue?: boolean;
  relay?: 'cancel' | 'pause';
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
};


/** Problems found against the database or the checkpoints: a 400 naming each field, like the schema's own. */
function invalidSpec(problems: { path: (string | number)[]; message: string }[]): ValidationError {
  return new ValidationError(
    `invalid job spec: ${problems.map((p) => `${fieldFromPath(p.path)}: ${p.message}`).join('; ')}`,
    problems.map((p) => ({ field: fieldFromPath(p.path), message: p.message })),
  );
}
