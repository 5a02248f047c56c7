import { LRUCache } from 'lru-cache';
import type pg from 'pg';
import { preparedQuery } from '../db/sql.js';
import { Batcher } from '../infra/batcher.js';
import { jsonOnce } from '../infra/json-once.js';
import { v7 as uuidv7 } from 'uuid';
import type { Checkpoint, Job, JobEvent, Metric } from '../generated/prisma/client.js';
import type { CheckpointReason } from '../engine/checkpoint-reasons.js';
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
  /** Where the job pauses next (a study's rung); null: it trains to its last epoch. */
  pauseAtEpoch?: number | null;
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

interface NewJob {
  projectId: string;
  spec: ResolvedJobSpec;
  defaultProjectLimit: number;
  advice: readonly Advice[];
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
  /** `pool`: the pool under `prisma`, for the statements every request makes (src/db/prisma.ts). */
  constructor(
    private readonly prisma: PrismaClient,
    private readonly pool: pg.Pool,
  ) {}

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
  /**
   * Records a job with its first event (and its advice, when there is some) and reads its
   * project's slots. Concurrent submissions are written together, one statement per batch.
   */
  create(projectId: string, spec: ResolvedJobSpec, defaultProjectLimit: number, advice: readonly Advice[] = []): Promise<{ job: JobRecord; events: JobEventRecord[]; slots: ProjectSlots }> {
    return this.creations.call({ projectId, spec, defaultProjectLimit, advice });
  }

  private readonly creations = new Batcher((items: NewJob[]) => this.createMany(items));

  private async createMany(items: NewJob[]): Promise<{ job: JobRecord; events: JobEventRecord[]; slots: ProjectSlots }[]> {
    const ids = items.map(() => uuidv7());
    const adviceData = items.map(({ advice }) => ({ advice }));
    const rows = await preparedQuery<RowButSpec & SlotColumns & { eventCreatedAt: Date }>(
      this.pool,
      'job_create_many',
      `WITH input AS (
        SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(id uuid, project_id uuid, spec jsonb, advice jsonb, advised boolean)
      ), j AS (
        INSERT INTO jobs (id, project_id, spec, last_seq, updated_at)
        SELECT id, project_id, spec, CASE WHEN advised THEN 2 ELSE 1 END, now() FROM input
        RETURNING *
      ), event AS (
        INSERT INTO job_events (job_id, seq, type, data) SELECT id, 1, 'status', '{"status":"queued"}'::jsonb FROM input
        RETURNING job_id, created_at
      ), advice AS (
        INSERT INTO job_events (job_id, seq, type, data) SELECT id, 2, 'advice', advice FROM input WHERE advised
      )
      SELECT ${JOB_COLUMNS_BUT_SPEC}, event.created_at AS "eventCreatedAt", ${SLOT_COLUMNS}
      FROM j JOIN event ON event.job_id = j.id JOIN projects p ON p.id = j.project_id`,
      // One JSON document spliced from each spec's JSON, which the answer writes too (stringified
      // once, not read back). As a jsonb[] parameter every spec was escaped into an array literal:
      // a tenth of a submission's allocations.
      [
        `[${items
          .map(({ projectId, spec, advice }, i) =>
            `{"id":"${ids[i]}","project_id":${JSON.stringify(projectId)},"spec":${jsonOnce(spec)},"advice":${JSON.stringify(adviceData[i])},"advised":${advice.length > 0}}`,
          )
          .join(',')}]`,
      ],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    return items.map(({ spec, advice, defaultProjectLimit }, i) => {
      const row = byId.get(ids[i]!)!;
      // The spec was resolved by this process: no need to check it again on the way out.
      checkedSpecs.set(row.id, spec);
      const createdAt = row.eventCreatedAt.toISOString();
      return {
        job: withSpec(row, spec),
        events: [
          { seq: 1, type: 'status', data: { status: 'queued' }, createdAt, emittedAt: createdAt },
          // Both rows were written by one statement: now() is the same for both.
          ...(advice.length > 0 ? [{ seq: 2, type: 'advice' as const, data: adviceData[i] as unknown as Record<string, unknown>, createdAt, emittedAt: createdAt }] : []),
        ],
        slots: slotsOf(row, defaultProjectLimit),
      };
    });
  }

  /**
   * A job recorded inside the caller's transaction (a study's trial), with its first event and,
   * for a job that continues another's run, the checkpoint it resumes from.
   */
  async createIn(
    tx: Tx,
    projectId: string,
    spec: ResolvedJobSpec,
    options: { id?: string; pauseAtEpoch: number | null; resumeFrom?: NewCheckpoint; reason?: string },
  ): Promise<{ job: JobRecord; events: JobEventRecord[] }> {
    const id = options.id ?? uuidv7();
    const row = await tx.job.create({ data: { id, projectId, spec: spec as unknown as Prisma.InputJsonValue, lastSeq: 1, pauseAtEpoch: options.pauseAtEpoch } });
    const event = await tx.jobEvent.create({ data: { jobId: id, seq: 1, type: 'status', data: { status: 'queued', ...(options.reason ? { reason: options.reason } : {}) } } });
    if (options.resumeFrom) {
      const { metrics, ...checkpoint } = options.resumeFrom;
      await tx.checkpoint.create({ data: { jobId: id, ...checkpoint, metrics: metrics as Prisma.InputJsonValue } });
    }
    checkedSpecs.set(id, spec);
    return { job: toJobRecord(row), events: [toEventRecord(event)] };
  }

  async get(id: string): Promise<JobRecord | null> {
    const job = await this.prisma.job.findUnique({ where: { id } });
    return job ? toJobRecord(job) : null;
  }

  /**
   * One job of the project and, while it is queued, what its waiting reason needs (the project's
   * jobs training now and its limit): the common read of a job. Concurrent reads go together as
   * one statement (a batch starts only after each of its calls was made, so none reads older data
   * than a lone query would): under load N reads cost one round trip and one socket write, not N.
   */
  getWithSlots(id: string, projectId: string, defaultProjectLimit: number): Promise<{ job: JobRecord; slots: ProjectSlots | null } | null> {
    return this.views.call({ id, projectId, defaultProjectLimit });
  }

  private readonly views = new Batcher((items: JobLookup[]) => this.getManyWithSlots(items));

  private async getManyWithSlots(items: JobLookup[]): Promise<({ job: JobRecord; slots: ProjectSlots | null } | null)[]> {
    const rows = await preparedQuery<RowButSpec & SlotColumns & { ord: string }>(
      this.pool,
      'job_get_many_with_slots',
      `SELECT q.ord, ${JOB_COLUMNS_BUT_SPEC}, p.name AS "slotProject", p.max_running_jobs AS "slotLimit",
        CASE WHEN j.status = 'queued' THEN ${RUNNING_COUNT} END AS "slotRunning"
      FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS q(id, project_id, ord)
      JOIN jobs j ON j.id = q.id AND j.project_id = q.project_id
      JOIN projects p ON p.id = j.project_id`,
      [items.map((item) => item.id), items.map((item) => item.projectId)],
    );
    const specs = await this.specsOf(rows.map((row) => row.id));
    const found = new Map(rows.map((row) => [Number(row.ord) - 1, row]));
    return items.map((item, i) => {
      const row = found.get(i);
      if (!row) return null;
      return { job: withSpec(row, specs.get(row.id)), slots: row.slotRunning === null ? null : slotsOf(row, item.defaultProjectLimit) };
    });
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

  /**
   * A page of one project's jobs, newest first, with what their waiting reasons need: one
   * round trip, the API's list. `after` is the id of the last job of the previous page.
   */
  async listWithSlots(query: ListJobsQuery & { projectId: string }, defaultProjectLimit: number): Promise<{ jobs: JobRecord[]; hasMore: boolean; slots: ProjectSlots }> {
    const page = await this.pages.call({ ...query, defaultProjectLimit });
    if (page instanceof Error) throw page;
    return page;
  }

  /** Concurrent pages go together as one statement, like getWithSlots's reads. */
  private readonly pages = new Batcher((items: PageLookup[]) => this.listManyWithSlots(items));

  /** An unknown project fails its own page only, not the batch. */
  private async listManyWithSlots(items: PageLookup[]): Promise<({ jobs: JobRecord[]; hasMore: boolean; slots: ProjectSlots } | Error)[]> {
    // A page's statuses travel as one comma-separated string: SQL arrays cannot be ragged.
    const rows = await preparedQuery<Partial<RowButSpec> & SlotColumns & { ord: string }>(
      this.pool,
      'job_list_many_with_slots',
      `SELECT q.ord, p.name AS "slotProject", p.max_running_jobs AS "slotLimit", s.running AS "slotRunning", page.*
      FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int[]) WITH ORDINALITY AS q(project_id, statuses, after_id, page_size, ord)
      JOIN projects p ON p.id = q.project_id
      CROSS JOIN LATERAL (SELECT count(*)::int AS running FROM jobs t WHERE t.project_id = q.project_id AND t.lease_expires_at > now()) s
      LEFT JOIN LATERAL (
        SELECT ${JOB_COLUMNS_BUT_SPEC} FROM jobs j
        WHERE j.project_id = q.project_id AND (q.statuses IS NULL OR j.status::text = ANY(string_to_array(q.statuses, ',')))
          AND (q.after_id IS NULL OR j.id < q.after_id)
        ORDER BY j.id DESC
        LIMIT q.page_size
      ) page ON true
      ORDER BY q.ord, page.id DESC`,
      [
        items.map((item) => item.projectId),
        items.map((item) => (item.status?.length ? item.status.join(',') : null)),
        items.map((item) => item.after ?? null),
        items.map((item) => item.limit + 1),
      ],
    );
    const byItem = items.map(() => [] as (typeof rows)[number][]);
    for (const row of rows) byItem[Number(row.ord) - 1]!.push(row);
    const pages = items.map((item, i) => byItem[i]!.filter((row): row is RowButSpec & SlotColumns & { ord: string } => row.id != null).slice(0, item.limit + 1));
    const specs = await this.specsOf(pages.flatMap((jobs, i) => jobs.slice(0, items[i]!.limit).map((row) => row.id)));
    return items.map((item, i) => {
      const own = byItem[i]!;
      if (own.length === 0) return new Error(`project ${item.projectId} does not exist`);
      const jobs = pages[i]!;
      return { jobs: jobs.slice(0, item.limit).map((row) => withSpec(row, specs.get(row.id))), hasMore: jobs.length > item.limit, slots: slotsOf(own[0]!, item.defaultProjectLimit) };
    });
  }

  /**
   * The specs of these jobs: those this process has checked before from its cache, the others
   * read in one statement. A spec never changes once recorded, and it is most of a job row's
   * bytes: the reads that list and show jobs leave it out and come here.
   */
  private async specsOf(ids: readonly string[]): Promise<Map<string, ResolvedJobSpec>> {
    const specs = new Map<string, ResolvedJobSpec>();
    const missing: string[] = [];
    for (const id of ids) {
      const spec = checkedSpecs.get(id);
      if (spec) specs.set(id, spec);
      else missing.push(id);
    }
    if (missing.length === 0) return specs;
    const rows = await preparedQuery<{ id: string; spec: string }>(this.pool, 'job_specs', 'SELECT id, spec::text AS spec FROM jobs WHERE id = ANY($1::uuid[])', [missing]);
    for (const row of rows) specs.set(row.id, specOf(row));
    return specs;
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
    return this.transaction((tx) => this.transitionIn(tx, id, change, eventData));
  }

  /** `transition` inside the caller's transaction (a study's decision changes its trials' jobs and its own rows at once). */
  async transitionIn(tx: Tx, id: string, change: StatusChange, eventData: Record<string, unknown> = {}): Promise<JobEventRecord | null> {
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
        pauseAtEpoch: change.pauseAtEpoch,
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
    const [row] = await preparedQuery<SlotColumns>(this.pool, 'project_slots', `SELECT ${SLOT_COLUMNS} FROM projects p WHERE p.id = $1::uuid`, [projectId]);
    if (!row) throw new Error(`project ${projectId} does not exist`);
    return slotsOf(row, defaultProjectLimit);
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
    if (!entries.some((entry) => entry.kind === 'checkpoint')) return this.recordEventsAndMetrics(id, entries);
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
      const events: { jobId: string; seq: number; type: JobEventType; data: Prisma.InputJsonValue; key: string; emittedAt: Date }[] = [];
      for (const [index, entry] of fresh.entries()) {
        events.push({ jobId: id, seq: first + index, type: eventTypeOf(entry), data: (await eventDataOf(tx, id, entry)) as Prisma.InputJsonValue, key: entry.key, emittedAt: new Date(entry.emittedAt) });
      }
      const rows = await tx.jobEvent.createManyAndReturn({ data: events });
      return rows.sort((a, b) => a.seq - b.seq).map(toEventRecord);
    });
  }

  /**
   * recordBatch without checkpoints — nearly every batch — as one statement: one round trip
   * instead of a transaction's six, which is what keeps the delay from a trainer's event to its
   * subscribers short. Same rules: writes whose key is stored are skipped, the job's row lock
   * orders concurrent writers, a metric step repeated in the batch keeps its last values.
   */
  private async recordEventsAndMetrics(id: string, entries: readonly RunWrite[]): Promise<JobEventRecord[]> {
    const input = entries.map((entry, ord) => {
      const common = { ord, key: entry.key, type: eventTypeOf(entry), emitted_at: new Date(entry.emittedAt).toISOString() };
      if (entry.kind === 'metric') {
        const { scope, epoch, step, values, progress } = entry.metric;
        return { ...common, data: metricEventData(entry), scope, epoch, step, values, progress };
      }
      if (entry.kind === 'event') return { ...common, data: entry.data };
      throw new Error('recordEventsAndMetrics: checkpoints are written by recordBatch in a transaction');
    });
    const rows = await preparedQuery<{ seq: number; type: string; data: Record<string, unknown>; created_at: Date; emitted_at: Date }>(
      this.pool,
      'events_record',
      `
      WITH input AS (
        SELECT * FROM jsonb_to_recordset($1::jsonb)
          AS e(ord int, key text, type text, data jsonb, emitted_at timestamptz, scope text, epoch int, step int, "values" jsonb, progress float8)
      ), fresh AS (
        SELECT i.*, row_number() OVER (ORDER BY i.ord) AS n FROM input i
        WHERE NOT EXISTS (SELECT 1 FROM job_events x WHERE x.job_id = $2::uuid AND x.key = i.key)
      ), bump AS (
        UPDATE jobs SET last_seq = last_seq + (SELECT count(*) FROM fresh),
          progress = coalesce((SELECT f.progress FROM fresh f WHERE f.scope IS NOT NULL ORDER BY f.ord DESC LIMIT 1), progress)
        WHERE id = $2::uuid AND EXISTS (SELECT 1 FROM fresh)
        RETURNING last_seq - (SELECT count(*) FROM fresh) AS base
      ), metric_rows AS (
        INSERT INTO metrics (job_id, scope, epoch, step, "values")
        SELECT DISTINCT ON (f.scope, f.step) $2::uuid, f.scope::"MetricScope", f.epoch, f.step, f."values"
        FROM fresh f WHERE f.scope IS NOT NULL ORDER BY f.scope, f.step, f.ord DESC
        ON CONFLICT (job_id, scope, step) DO UPDATE SET epoch = EXCLUDED.epoch, "values" = EXCLUDED."values"
      )
      INSERT INTO job_events (job_id, seq, type, data, key, emitted_at)
      SELECT $2::uuid, bump.base + f.n, f.type, f.data, f.key, f.emitted_at FROM fresh f CROSS JOIN bump
      RETURNING seq, type, data, created_at, emitted_at`,
      [JSON.stringify(input), id],
    );
    return rows
      .map((row) => ({ seq: row.seq, type: row.type as JobEventType, data: row.data, createdAt: row.created_at.toISOString(), emittedAt: row.emitted_at.toISOString() }))
      .sort((a, b) => a.seq - b.seq);
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
    WHERE project_id = ${projectId}::uuid AND lease_expires_at > now()
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
/** `key` makes the write idempotent: unique per job, chosen by the writer; `emittedAt` is when training produced it (ms). */
export type RunWrite = RunWriteBody & { key: string; emittedAt: number };

function eventTypeOf(entry: RunWrite): JobEventType {
  return entry.kind === 'metric' ? 'metrics' : entry.kind === 'checkpoint' ? 'checkpoint' : entry.type;
}

/** A metrics event's data: the metric row's fields and what the writer added (progress, speed). */
function metricEventData(entry: RunWrite & { kind: 'metric' }): Record<string, unknown> {
  const { scope, epoch, step, values } = entry.metric;
  return { scope, epoch, step, values, ...entry.eventData };
}

/** The event's data; a checkpoint's row is written here, in the batch's transaction. */
async function eventDataOf(tx: Tx, jobId: string, entry: RunWrite): Promise<Record<string, unknown>> {
  switch (entry.kind) {
    case 'event':
      return entry.data;
    case 'metric':
      return metricEventData(entry);
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

/** A timestamp as the API writes it (ISO 8601, UTC, ms), made by PostgreSQL: no Date to parse and format again. */
const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * The columns a job's view needs but its spec, named as Prisma names them; `j` is the jobs row.
 * The spec comes from JobStore.specsOf; timestamps come formatted.
 */
const JOB_COLUMNS_BUT_SPEC = `j.id, j.project_id AS "projectId", j.status::text AS status, j.backend, j.device, j.failure_reason AS "failureReason",
  j.attempts, j.last_seq AS "lastSeq", j.progress, ${iso('j.created_at')} AS "createdAt", ${iso('j.started_at')} AS "startedAt",
  ${iso('j.finished_at')} AS "finishedAt", ${iso('j.updated_at')} AS "updatedAt", j.restarts, j.restart_causes AS "restartCauses", j.pause_at_epoch AS "pauseAtEpoch"`;
type Timestamps = 'createdAt' | 'startedAt' | 'finishedAt' | 'updatedAt';
type JobRow = Pick<Job, 'id' | 'projectId' | 'status' | 'spec' | 'backend' | 'device' | 'failureReason' | 'attempts' | 'lastSeq' | 'progress' | 'restarts' | 'restartCauses' | 'pauseAtEpoch'> & {
  [K in Timestamps]: Job[K] | string;
};
type RowButSpec = Omit<JobRow, 'spec'>;
const isoOf = (value: Date | string): string => (typeof value === 'string' ? value : value.toISOString());

/**
 * The project's jobs training now: a live lease, `p` the project. A lease's owner and expiry are
 * set and cleared together (claimLease, releaseLease), so the expiry alone tells, and the count is
 * an index-only range scan of jobs_project_id_lease_expires_at_idx over the live leases only,
 * however many jobs the project has.
 */
const RUNNING_COUNT = `(SELECT count(*)::int FROM jobs t WHERE t.project_id = p.id AND t.lease_expires_at > now())`;
const SLOT_COLUMNS = `p.name AS "slotProject", p.max_running_jobs AS "slotLimit", ${RUNNING_COUNT} AS "slotRunning"`;
interface JobLookup {
  id: string;
  projectId: string;
  defaultProjectLimit: number;
}

type PageLookup = ListJobsQuery & { projectId: string; defaultProjectLimit: number };

interface SlotColumns {
  slotProject: string;
  slotLimit: number | null;
  slotRunning: number | null;
}

function slotsOf(row: SlotColumns, defaultProjectLimit: number): ProjectSlots {
  return { project: row.slotProject, running: row.slotRunning ?? 0, limit: row.slotLimit ?? defaultProjectLimit };
}

/**
 * A job's spec never changes once it is recorded, and checking it against the schema costs more
 * than reading the row: each process checks a job's spec once.
 */
const checkedSpecs = new LRUCache<string, ResolvedJobSpec>({ max: 5_000 });

/** `job.spec` as Prisma gives it, or as text (specsOf): text is parsed only when the spec is not cached. */
function specOf(job: Pick<JobRow, 'id' | 'spec'>): ResolvedJobSpec {
  let spec = checkedSpecs.get(job.id);
  if (!spec) {
    spec = resolvedJobSpecSchema.parse(typeof job.spec === 'string' ? JSON.parse(job.spec) : job.spec);
    checkedSpecs.set(job.id, spec);
  }
  return spec;
}

function toJobRecord(job: JobRow): JobRecord {
  return withSpec(job, specOf(job));
}

/** A row read without its spec (JOB_COLUMNS_BUT_SPEC) and the spec from JobStore.specsOf; jobs are never deleted, so it is there. */
function withSpec(job: RowButSpec, spec: ResolvedJobSpec | undefined): JobRecord {
  if (!spec) throw new Error(`job ${job.id} has no recorded spec`);
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
    pauseAtEpoch: job.pauseAtEpoch,
    lastSeq: job.lastSeq,
    createdAt: isoOf(job.createdAt),
    startedAt: job.startedAt === null ? null : isoOf(job.startedAt),
    finishedAt: job.finishedAt === null ? null : isoOf(job.finishedAt),
    updatedAt: isoOf(job.updatedAt),
  };
}

function toEventRecord(event: JobEvent): JobEventRecord {
  return {
    seq: event.seq,
    type: event.type as JobEventType,
    data: event.data as Record<string, unknown>,
    createdAt: event.createdAt.toISOString(),
    emittedAt: (event.emittedAt ?? event.createdAt).toISOString(),
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
