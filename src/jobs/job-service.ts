import { NotFoundError, UnavailableError } from '../errors/errors.js';
import type { JobEventPublisher } from '../events/job-event-publisher.js';
import type { Logger } from '../logging/logger.js';
import { enqueueTraining, type TrainingQueue } from '../queue/queues.js';
import { resolveJobSpec, type JobSpec } from '../spec/job-spec.js';
import type { JobStore, ListJobsQuery } from './job-store.js';
import type { JobEventRecord, JobRecord, MetricRecord, MetricScope } from './job-types.js';

/** What the API can do with jobs; HTTP-free so a CLI or another transport can reuse it. */
export class JobService {
  constructor(
    private readonly store: JobStore,
    private readonly queue: TrainingQueue,
    private readonly publisher: JobEventPublisher,
    private readonly logger: Logger,
  ) {}

  async submit(spec: JobSpec): Promise<JobRecord> {
    const { job, event } = await this.store.create(resolveJobSpec(spec));
    await this.publisher.publish(job.id, event).catch((error: unknown) => this.logger.warn({ err: error }, 'publish failed'));
    try {
      await enqueueTraining(this.queue, job.id);
    } catch (error) {
      // The job row exists; a worker's start-up reconciliation enqueues queued jobs it finds, so this is not lost.
      this.logger.error({ err: error, jobId: job.id }, 'could not enqueue job');
      throw new UnavailableError(`job ${job.id} was recorded but could not be queued: Redis did not answer. It will be queued when a worker starts`);
    }
    return job;
  }

  async get(id: string): Promise<JobRecord> {
    const job = isJobId(id) ? await this.store.get(id) : null;
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

  async assertExists(id: string): Promise<void> {
    if (!isJobId(id) || !(await this.store.exists(id))) throw new NotFoundError('job', id);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A malformed id names no job: the same 404 as an unknown one (and never reaches a uuid column). */
function isJobId(id: string): boolean {
  return UUID.test(id);
}
