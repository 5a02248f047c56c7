import { LRUCache } from 'lru-cache';
import { v7 as uuidv7 } from 'uuid';
import type { Checkpoint, Job, JobEvent, Metric } from '../generated/prisma/client.js';
import type { CheckpointReason } from '../engine/checkpoint-data.js';
import { sourcesOf } from './job-state-machine.js';
import { Prisma, type PrismaClient } from '../db/prisma.js';
import type { Advice } from '../spec/advice/index.js';
import { resolvedJobSpecSchema, type ResolvedJobSpec } from '../spec/job-spec.js';
import type { CheckpointRecord, JobEventRecord, JobEventType, JobRecord, JobStatus, MetricRecord, MetricScope } from './job-types.js';

type Tx = Prisma.TransactionClient;

export interface StatusChange {
  status: JobStatus;
  startedAt?: Date;
  finishedAt?: Date | null;
  failureReason?: string | null;
  backend?: string;
  device?: string;
  progress?: number;
  incrementAttempts?: boolean;
  /** A restart after a failure that was not the spec's fault: counted, with its cause kept. */
  restartCause?: string;
  /** A retry by request starts a fresh restart budget. */
  resetRestarts?: boolean;
  /** Only from these statuses (of those the state machine allows): what the caller saw. */
  from?: readonly JobStatus[];
}

export interface NewCheckpoint {
  epoch: number;
  step: number;
  reason: string;
  path: string;
  sizeBytes: number;
  sha256: string;
  metrics: Record<string, number>;
  isBest: boolean;
}

export interface ListJobsQuery {
  /** Absent only for the workers' own sweeps, which see every project. */
  projectId?: string;
  limit: number;
  after?: string;
  status?: JobStatus[];
}

/**
 * Data access for jobs, their event log and their metrics. Every event gets the next sequence
 * number of its job in the same transaction that writes it, so the log has no gaps or duplicates
 * however many processes write.
 */
export class JobStore {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * A transaction, run again when PostgreSQL aborted it for a deadlock or a write conflict
   * (P2034): a worker's event batch and a user's pause both lock the job's row, and either may be
   * chosen as the victim. Each of our transactions is safe to repeat as a whole.
   */
  private async transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.prisma.$transaction(work);
      } catch (error) {
        if (attempt >= 5 || (error as { code?: unknown }).code !== 'P2034') throw error;
        await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 20));
      }
    }
  }

  /**
   * The job and its first events (seq 1, queued; seq 2, the advice given at submission, when there
   * is any), with what the new job's waiting reason needs (the project's jobs training now): one
   * statement, one round trip, atomic as a statement is.
   */
  async create(
    projectId: string,
    spec: ResolvedJobSpec,
    defaultProjectLimit: number,
    advice: readonly Advice[] = [],
  ): Promise<{ job: JobRecord; events: JobEventRecord[]; slots: ProjectSlots }> {
    const id = uuidv7();
    const status = JSON.stringify({ status: 'queued' });
    const advised = advice.length > 0;
    const adviceData = { advice };
    const rows = await this.prisma.$queryRaw<(Record<string, unknown> & { slot_project: string; slot_limit: number | null; slot_running: bigint; event_created_at: Date })[]>`
      WITH job AS (
        INSERT INTO jobs (id, project_id, spec, last_seq, updated_at)
        VALUES (${id}::uuid, ${projectId}::uuid, ${JSON.stringify(spec)}::jsonb, ${advised ? 2 : 1}, now())
        RETURNING *
      ), event AS (
        INSERT INTO job_events (job_id, seq, type, data) SELECT job.id, 1, 'status', ${status}::jsonb FROM job
        RETURNING created_at
      ), advice AS (
        INSERT INTO job_events (job_id, seq, type, data) SELECT job.id, 2, 'advice', ${JSON.stringify(adviceData)}::jsonb FROM job WHERE ${advised}
      )
      SELECT job.*, event.created_at AS event_created_at, p.name AS slot_project, p.max_running_jobs AS slot_limit,
        (SELECT count(*) FROM jobs t WHERE t.project_id = ${projectId}::uuid AND t.lease_owner IS NOT NULL AND t.lease_expires_at > now()) AS slot_running
      FROM job CROSS JOIN event JOIN projects p ON p.id = job.project_id`;
    const { slot_project: project, slot_limit: limit, slot_running: running, event_created_at: eventCreatedAt, ...columns } = rows[0]!;
    // The spec was resolved by this process: no need to check it again on the way out.
    checkedSpecs.set(id, spec);
    const createdAt = eventCreatedAt.toISOString();
    return {
      job: toJobRecord(jobFromColumns(columns)),
      events: [
        { seq: 1, type: 'status', data: { status: 'queued' }, createdAt },
        // Both rows were written by one statement: now() is the same for both.
        ...(advised ? [{ seq: 2, type: 'advice' as const, data: adviceData as unknown as Record<string, unknown>, createdAt }] : []),
      ],
      slots: { project, running: Number(running), limit: limit ?? defaultProjectLimit },
    };
  }

  async get(id: string): Promise<JobRecord | null> {
    const job = await this.prisma.job.findUnique({ where: { id } });
    return job ? toJobRecord(job) : null;
  }

  /**
   * One job of the project and, while it is queued, what its waiting reason needs (the project's
   * jobs training now and its limit): one round trip, the common read of a job.
   */
  async getWithSlots(id: string, projectId: string, defaultProjectLimit: number): Promise<{ job: JobRecord; slots: ProjectSlots | null } | null> {
    const rows = await this.prisma.$queryRaw<(Record<string, unknown> & { slot_project: string; slot_limit: number | null; slot_running: bigint | null })[]>`
      SELECT j.*, p.name AS slot_project, p.max_running_jobs AS slot_limit,
        CASE WHEN j.status = 'queued' THEN
          (SELECT count(*) FROM jobs t WHERE t.project_id = j.project_id AND t.lease_owner IS NOT NULL AND t.lease_expires_at > now())
        END AS slot_running
      FROM jobs j JOIN projects p ON p.id = j.project_id
      WHERE j.id = ${id}::uuid AND j.project_id = ${projectId}::uuid`;
    const row = rows[0];
    if (!row) return null;
    const { slot_project: project, slot_limit: limit, slot_running: running, ...columns } = row;
    const slots = running === null ? null : { project, running: Number(running), limit: limit ?? defaultProjectLimit };
    return { job: toJobRecord(jobFromColumns(columns)), slots };
  }

  async exists(id: string, projectId: string): Promise<boolean> {
    return (await this.prisma.job.count({ where: { id, projectId } })) > 0;
  }

  /** Those of `ids` that belong to the project. */
  async inProject(ids: string[], projectId: string): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.prisma.job.findMany({ where: { id: { in: ids }, projectId }, select: { id: true } });
    return new Set(rows.map((row) => row.id));
  }

  /** Which project a job belongs to (null for an unknown job); never changes once the job exists. */
  async projectOf(id: string): Promise<string | null> {
    return (await this.prisma.job.findUnique({ where: { id }, select: { projectId: true } }))?.projectId ?? null;
  }

  /** Newest first; `after` is the id of the last job of the previous page (ids are UUIDv7, time-ordered). */
  async list(query: ListJobsQuery): Promise<{ jobs: JobRecord[]; hasMore: boolean }> {
    const rows = await this.prisma.job.findMany({
      where: {
        ...(query.projectId ? { projectId: query.projectId } : {}),
        ...(query.status?.length ? { status: { in: query.status } } : {}),
        ...(query.after ? { id: { lt: query.after } } : {}),
      },
      orderBy: { id: 'desc' },
      take: query.limit + 1,
    });
    return { jobs: rows.slice(0, query.limit).map(toJobRecord), hasMore: rows.length > query.limit };
  }

  /**
   * Moves the job to `change.status` only if its current status may lead there
   * (src/jobs/job-state-machine.ts), together with its status event. Null when it may not: the
   * caller re-reads the job to say why.
   */
  async transition(id: string, change: StatusChange, eventData: Record<string, unknown> = {}): Promise<JobEventRecord | null> {
    return this.transaction(async (tx) => {
      const { count } = await tx.job.updateMany({
        where: { id, status: { in: sourcesOf(change.status).filter((status) => !change.from || change.from.includes(status)) } },
        data: {
          status: change.status,
          startedAt: change.startedAt,
          finishedAt: change.finishedAt,
          failureReason: change.failureReason,
          backend: change.backend,
          device: change.device,
          progress: change.progress,
          ...(change.incrementAttempts ? { attempts: { increment: 1 } } : {}),
          ...(change.resetRestarts ? { restarts: 0, restartCauses: [] } : {}),
        },
      });
      if (count === 0) return null;
      if (change.restartCause !== undefined) {
        await tx.$executeRaw`
          UPDATE jobs SET restarts = restarts + 1, restart_causes = restart_causes || jsonb_build_array(${change.restartCause}::text)
          WHERE id = ${id}::uuid`;
      }
      return appendEvent(tx, id, 'status', { status: change.status, ...eventData });
    });
  }

  /**
   * Takes the job's lease if it is free, expired or already ours, and if its project has a slot:
   * a live lease is a job training, and they are counted under a lock on the project's row, so
   * two workers cannot both take the last slot.
   */
  async claimLease(id: string, owner: string, leaseMs: number, defaultProjectLimit: number): Promise<LeaseClaim> {
    return this.transaction(async (tx) => {
      const [project] = await tx.$queryRaw<{ id: string; name: string; limit: number | null }[]>`
        SELECT p.id::text AS id, p.name, p.max_running_jobs AS limit FROM projects p JOIN jobs j ON j.project_id = p.id
        WHERE j.id = ${id}::uuid FOR UPDATE OF p`;
      if (!project) return { claimed: false, reason: 'held', retryInMs: leaseMs };
      const limit = project.limit ?? defaultProjectLimit;
      const running = await countTraining(tx, project.id, id);
      if (running >= limit) return { claimed: false, reason: 'projectFull', project: project.name, running, limit };
      const rows = await tx.$executeRaw`
        UPDATE jobs SET lease_owner = ${owner}, lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000})
        WHERE id = ${id}::uuid AND (lease_owner IS NULL OR lease_owner = ${owner} OR lease_expires_at < now())`;
      if (rows > 0) return { claimed: true };
      const [held] = await tx.$queryRaw<{ ms: number }[]>`
        SELECT greatest(0, extract(epoch FROM (lease_expires_at - now())) * 1000)::float8 AS ms FROM jobs WHERE id = ${id}::uuid`;
      return { claimed: false, reason: 'held', retryInMs: Math.ceil(held?.ms ?? leaseMs) };
    });
  }

  /** How many of the project's jobs are training now, and how many may: one round trip. */
  async projectSlots(projectId: string, defaultProjectLimit: number): Promise<ProjectSlots> {
    const [row] = await this.prisma.$queryRaw<{ name: string; limit: number | null; running: bigint }[]>`
      SELECT p.name, p.max_running_jobs AS limit,
        (SELECT count(*) FROM jobs j WHERE j.project_id = p.id AND j.lease_owner IS NOT NULL AND j.lease_expires_at > now()) AS running
      FROM projects p WHERE p.id = ${projectId}::uuid`;
    if (!row) throw new Error(`project ${projectId} does not exist`);
    return { project: row.name, running: Number(row.running), limit: row.limit ?? defaultProjectLimit };
  }

  /** Extends our lease and tells the current status; null when the lease is no longer ours. */
  async renewLease(id: string, owner: string, leaseMs: number): Promise<JobStatus | null> {
    const rows = await this.prisma.$queryRaw<{ status: JobStatus }[]>`
      UPDATE jobs SET lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000})
      WHERE id = ${id}::uuid AND lease_owner = ${owner} RETURNING status::text AS status`;
    return rows[0]?.status ?? null;
  }

  /** Gives the lease up and adds this attempt's training time to the job's total. */
  async releaseLease(id: string, owner: string, runtimeMs: number): Promise<void> {
    await this.prisma.$executeRaw`
      UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, runtime_ms = runtime_ms + ${Math.round(runtimeMs)}
      WHERE id = ${id}::uuid AND lease_owner = ${owner}`;
  }

  async leaseExpired(id: string): Promise<boolean> {
    const job = await this.prisma.job.findUnique({ where: { id }, select: { leaseExpiresAt: true } });
    return !job?.leaseExpiresAt || job.leaseExpiresAt.getTime() < Date.now();
  }

  async runtimeMs(id: string): Promise<number> {
    return (await this.prisma.job.findUniqueOrThrow({ where: { id }, select: { runtimeMs: true } })).runtimeMs;
  }

  async listCheckpoints(id: string): Promise<(CheckpointRecord & { path: string })[]> {
    const rows = await this.prisma.checkpoint.findMany({ where: { jobId: id }, orderBy: { step: 'asc' } });
    return rows.map((row) => ({ ...toCheckpointRecord(row), path: row.path }));
  }

  async getCheckpoint(id: string, checkpointId: string): Promise<(CheckpointRecord & { path: string }) | null> {
    const row = await this.prisma.checkpoint.findFirst({ where: { jobId: id, id: checkpointId } });
    return row ? { ...toCheckpointRecord(row), path: row.path } : null;
  }

  async latestCheckpoint(id: string, reason?: string): Promise<(CheckpointRecord & { path: string }) | null> {
    const row = await this.prisma.checkpoint.findFirst({ where: { jobId: id, ...(reason ? { reason } : {}) }, orderBy: { step: 'desc' } });
    return row ? { ...toCheckpointRecord(row), path: row.path } : null;
  }

  /** Deletes all but the newest `keep`, the best and the final one; returns the deleted folders. */
  async pruneCheckpoints(id: string, keep: number): Promise<string[]> {
    const rows = await this.prisma.checkpoint.findMany({ where: { jobId: id }, orderBy: { step: 'desc' }, select: { id: true, path: true, isBest: true, reason: true } });
    const doomed = rows.slice(keep).filter((row) => !row.isBest && row.reason !== 'final');
    if (doomed.length === 0) return [];
    await this.prisma.checkpoint.deleteMany({ where: { id: { in: doomed.map((row) => row.id) } } });
    return doomed.map((row) => row.path);
  }

  /**
   * Writes a run's pending events in one transaction, in order: one sequence bump, one metrics
   * upsert, one insert. Entries whose key is already stored (a retry after a lost commit
   * acknowledgement) are skipped, so a retried batch is written once. Returns the new events.
   */
  async recordBatch(id: string, entries: readonly RunWrite[]): Promise<JobEventRecord[]> {
    if (entries.length === 0) return [];
    return this.transaction(async (tx) => {
      const stored = await tx.jobEvent.findMany({ where: { jobId: id, key: { in: entries.map((entry) => entry.key) } }, select: { key: true } });
      const done = new Set(stored.map((row) => row.key));
      const fresh = entries.filter((entry) => !done.has(entry.key));
      if (fresh.length === 0) return [];
      const metrics = new Map<string, MetricWrite>();
      let progress: number | undefined;
      for (const entry of fresh) {
        if (entry.kind !== 'metric') continue;
        // A step repeated within the batch: the later values win, as they would one by one.
        metrics.set(`${entry.metric.scope}:${entry.metric.step}`, entry.metric);
        progress = entry.metric.progress;
      }
      const [{ last_seq: lastSeq } = { last_seq: 0 }] = await tx.$queryRaw<{ last_seq: number }[]>`
        UPDATE jobs SET last_seq = last_seq + ${fresh.length}, progress = coalesce(${progress ?? null}::float8, progress)
        WHERE id = ${id}::uuid RETURNING last_seq`;
      if (metrics.size > 0) {
        const rows = [...metrics.values()];
        await tx.$executeRaw`
          INSERT INTO metrics (job_id, scope, epoch, step, "values")
          SELECT ${id}::uuid, m.scope::"MetricScope", m.epoch, m.step, m."values"
          FROM jsonb_to_recordset(${JSON.stringify(rows.map(({ scope, epoch, step, values }) => ({ scope, epoch, step, values })))}::jsonb)
            AS m(scope text, epoch int, step int, "values" jsonb)
          ON CONFLICT (job_id, scope, step) DO UPDATE SET epoch = EXCLUDED.epoch, "values" = EXCLUDED."values"`;
      }
      const first = lastSeq - fresh.length + 1;
      const events: { jobId: string; seq: number; type: JobEventType; data: Prisma.InputJsonValue; key: string }[] = [];
      for (const [index, entry] of fresh.entries()) {
        events.push({ jobId: id, seq: first + index, type: entry.kind === 'metric' ? 'metrics' : entry.kind === 'checkpoint' ? 'checkpoint' : entry.type, data: (await eventDataOf(tx, id, entry)) as Prisma.InputJsonValue, key: entry.key });
      }
      const rows = await tx.jobEvent.createManyAndReturn({ data: events });
      return rows.sort((a, b) => a.seq - b.seq).map(toEventRecord);
    });
  }

  async listEvents(id: string, afterSeq: number, limit: number): Promise<JobEventRecord[]> {
    const rows = await this.prisma.jobEvent.findMany({
      where: { jobId: id, seq: { gt: afterSeq } },
      orderBy: { seq: 'asc' },
      take: limit,
    });
    return rows.map(toEventRecord);
  }

  async listMetrics(id: string, query: { scope?: MetricScope; afterStep: number; limit: number }): Promise<MetricRecord[]> {
    const rows = await this.prisma.metric.findMany({
      where: { jobId: id, step: { gt: query.afterStep }, ...(query.scope ? { scope: query.scope } : {}) },
      orderBy: [{ step: 'asc' }, { scope: 'asc' }],
      take: query.limit,
    });
    return rows.map(toMetricRecord);
  }
}

export interface ProjectSlots {
  project: string;
  running: number;
  limit: number;
}

export type LeaseClaim =
  | { claimed: true }
  /** Another worker's lease is live: it expires in `retryInMs`. */
  | { claimed: false; reason: 'held'; retryInMs: number }
  | { claimed: false; reason: 'projectFull'; project: string; running: number; limit: number };

/** Jobs of the project holding a live lease (training now), but for `except`. */
async function countTraining(db: Tx | PrismaClient, projectId: string, except?: string): Promise<number> {
  const [row] = await db.$queryRaw<{ count: bigint }[]>`
    SELECT count(*) AS count FROM jobs
    WHERE project_id = ${projectId}::uuid AND lease_owner IS NOT NULL AND lease_expires_at > now()
      AND id <> ${except ?? '00000000-0000-0000-0000-000000000000'}::uuid`;
  return Number(row?.count ?? 0);
}

export interface MetricWrite {
  scope: MetricScope;
  epoch: number;
  step: number;
  values: Record<string, number>;
  progress: number;
}

/** One write of a training run: an event, a metric (with its event) or a checkpoint (with its event). */
export type RunWriteBody =
  | { kind: 'event'; type: JobEventType; data: Record<string, unknown> }
  | { kind: 'metric'; metric: MetricWrite; eventData: Record<string, unknown> }
  | { kind: 'checkpoint'; checkpoint: NewCheckpoint };
/** `key` makes the write idempotent: unique per job, chosen by the writer. */
export type RunWrite = RunWriteBody & { key: string };

/** The event's data; a checkpoint's row is written here, in the batch's transaction. */
async function eventDataOf(tx: Tx, jobId: string, entry: RunWrite): Promise<Record<string, unknown>> {
  switch (entry.kind) {
    case 'event':
      return entry.data;
    case 'metric': {
      const { scope, epoch, step, values } = entry.metric;
      return { scope, epoch, step, values, ...entry.eventData };
    }
    case 'checkpoint': {
      const { checkpoint } = entry;
      if (checkpoint.isBest) await tx.checkpoint.updateMany({ where: { jobId, isBest: true }, data: { isBest: false } });
      const fields = {
        epoch: checkpoint.epoch,
        reason: checkpoint.reason,
        path: checkpoint.path,
        sizeBytes: checkpoint.sizeBytes,
        sha256: checkpoint.sha256,
        metrics: checkpoint.metrics as Prisma.InputJsonValue,
        isBest: checkpoint.isBest,
      };
      const row = await tx.checkpoint.upsert({
        where: { jobId_step: { jobId, step: checkpoint.step } },
        create: { jobId, step: checkpoint.step, ...fields },
        update: fields,
      });
      return { ...toCheckpointRecord(row) };
    }
  }
}

async function appendEvent(tx: Tx, jobId: string, type: JobEventType, data: Record<string, unknown>): Promise<JobEventRecord> {
  // The row lock taken by this UPDATE serialises concurrent writers of the same job's log.
  const { lastSeq } = await tx.job.update({
    where: { id: jobId },
    data: { lastSeq: { increment: 1 } },
    select: { lastSeq: true },
  });
  const event = await tx.jobEvent.create({
    data: { jobId, seq: lastSeq, type, data: data as Prisma.InputJsonValue },
  });
  return toEventRecord(event);
}

/** A jobs row read by raw SQL, in the shape Prisma gives it (snake_case columns to camelCase fields). */
function jobFromColumns(columns: Record<string, unknown>): Job {
  return Object.fromEntries(Object.entries(columns).map(([column, value]) => [column.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase()), value])) as unknown as Job;
}

/**
 * A job's spec never changes once it is recorded, and checking it against the schema costs more
 * than reading the row: each process checks a job's spec once.
 */
const checkedSpecs = new LRUCache<string, ResolvedJobSpec>({ max: 5_000 });

function specOf(job: Job): ResolvedJobSpec {
  let spec = checkedSpecs.get(job.id);
  if (!spec) {
    spec = resolvedJobSpecSchema.parse(job.spec);
    checkedSpecs.set(job.id, spec);
  }
  return spec;
}

function toJobRecord(job: Job): JobRecord {
  const spec = specOf(job);
  return {
    id: job.id,
    projectId: job.projectId,
    name: spec.name ?? null,
    status: job.status,
    spec,
    backend: job.backend,
    device: job.device,
    failureReason: job.failureReason,
    attempts: job.attempts,
    restarts: job.restarts,
    restartCauses: job.restartCauses as string[],
    progress: job.progress,
    lastSeq: job.lastSeq,
    createdAt: job.createdAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
    updatedAt: job.updatedAt.toISOString(),
  };
}

function toEventRecord(event: JobEvent): JobEventRecord {
  return {
    seq: event.seq,
    type: event.type as JobEventType,
    data: event.data as Record<string, unknown>,
    createdAt: event.createdAt.toISOString(),
  };
}

function toMetricRecord(metric: Metric): MetricRecord {
  return {
    scope: metric.scope,
    epoch: metric.epoch,
    step: metric.step,
    values: metric.values as Record<string, number>,
    createdAt: metric.createdAt.toISOString(),
  };
}

function toCheckpointRecord(row: Checkpoint): CheckpointRecord {
  return {
    id: row.id,
    epoch: row.epoch,
    step: row.step,
    // Written only from CheckpointData.reason.
    reason: row.reason as CheckpointReason,
    sizeBytes: row.sizeBytes,
    sha256: row.sha256,
    metrics: row.metrics as Record<string, number>,
    isBest: row.isBest,
    createdAt: row.createdAt.toISOString(),
  };
}
