import { v7 as uuidv7 } from 'uuid';
import { Prisma, type PrismaClient } from '../db/prisma.js';
import type { Study, StudyEvent, Trial } from '../generated/prisma/client.js';
import type { JobStatus } from '../jobs/job-types.js';
import { resolvedStudySpecSchema, type ResolvedStudySpec } from '../spec/study-spec.js';
import type { TrialParams } from './search-space.js';
import type { LineageStep, StudyEventRecord, StudyEventType, StudyRecord, StudyStatus, TrialRecord, TrialResult, TrialState, TrialWithJob } from './study-types.js';

export type Tx = Prisma.TransactionClient;

/** The scheduler's lease on a study ran out (another process took it): its decision was not committed. */
export class StudyLeaseLostError extends Error {
  override name = 'StudyLeaseLostError';
}

/** The trial had moved on since the scheduler read it: the decision was not committed, and is made again from what is there now. */
export class StaleTrialError extends Error {
  override name = 'StaleTrialError';
}

/** Data access for studies, their trials and their event log. */
export class StudyStore {
  constructor(private readonly prisma: PrismaClient) {}

  async create(projectId: string, spec: ResolvedStudySpec): Promise<{ study: StudyRecord; event: StudyEventRecord }> {
    return this.prisma.$transaction(async (tx) => {
      const row = await tx.study.create({ data: { id: uuidv7(), projectId, spec: spec as unknown as Prisma.InputJsonValue } });
      const event = await this.appendEventIn(tx, row.id, 'status', { status: 'running' });
      return { study: toStudyRecord({ ...row, lastSeq: event.seq }), event };
    });
  }

  async get(id: string): Promise<StudyRecord | null> {
    const row = await this.prisma.study.findUnique({ where: { id } });
    return row ? toStudyRecord(row) : null;
  }

  async list(projectId: string, limit: number, after?: string): Promise<{ studies: StudyRecord[]; hasMore: boolean }> {
    const rows = await this.prisma.study.findMany({
      where: { projectId, ...(after ? { id: { lt: after } } : {}) },
      orderBy: { id: 'desc' },
      take: limit + 1,
    });
    return { studies: rows.slice(0, limit).map(toStudyRecord), hasMore: rows.length > limit };
  }

  /** The study's trials in order, each with what the scheduler reads of its job. */
  async trials(studyId: string): Promise<TrialWithJob[]> {
    return this.trialsIn(this.prisma, studyId);
  }

  async trialsIn(tx: Tx, studyId: string): Promise<TrialWithJob[]> {
    const rows = await tx.trial.findMany({
      where: { studyId },
      orderBy: { number: 'asc' },
      include: { job: { select: { status: true, pauseAtEpoch: true, runtimeMs: true, failureReason: true, progress: true } } },
    });
    return rows.map((row) => ({ ...toTrialRecord(row), job: { ...row.job, status: row.job.status as JobStatus } }));
  }

  /** The study of a job, when the job is (or was) one of its trials' current job. */
  async trialOfJob(jobId: string): Promise<TrialRecord | null> {
    const row = await this.prisma.trial.findUnique({ where: { jobId } });
    return row ? toTrialRecord(row) : null;
  }

  /** Studies a scheduler should look at: running or paused, whose lease is free, lapsed or already `owner`'s. */
  async schedulable(owner: string, limit: number): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<{ id: string }[]>`
      SELECT id::text AS id FROM studies
      WHERE status IN ('running', 'paused') AND (lease_owner IS NULL OR lease_owner = ${owner} OR lease_expires_at < now())
      ORDER BY id LIMIT ${limit}`;
    return rows.map((row) => row.id);
  }

  /** Takes or renews the study's lease; false when another process holds it. */
  async claimLease(id: string, owner: string, leaseMs: number): Promise<boolean> {
    const rows = await this.prisma.$executeRaw`
      UPDATE studies SET lease_owner = ${owner}, lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000})
      WHERE id = ${id}::uuid AND status IN ('running', 'paused') AND (lease_owner IS NULL OR lease_owner = ${owner} OR lease_expires_at < now())`;
    return rows > 0;
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    await this.prisma.$executeRaw`UPDATE studies SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ${id}::uuid AND lease_owner = ${owner}`;
  }

  /**
   * One decision, committed only while `owner` still holds the study's lease: the study's row is
   * locked first, so a scheduler whose lease lapsed (it stalled, or was killed and came back)
   * cannot commit anything after another one took over.
   */
  async underLease<T>(id: string, owner: string, work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.prisma.$transaction(async (tx) => {
      const [held] = await tx.$queryRaw<{ id: string }[]>`
        SELECT id::text AS id FROM studies WHERE id = ${id}::uuid AND lease_owner = ${owner} AND lease_expires_at > now() FOR UPDATE`;
      if (!held) throw new StudyLeaseLostError(`the lease on study ${id} is no longer held by ${owner}`);
      return work(tx);
    });
  }

  /** Updates a trial only if it is still in `expected` state on the same job; otherwise the whole decision is rolled back. */
  async updateTrialIn(
    tx: Tx,
    trial: Pick<TrialRecord, 'id' | 'state' | 'jobId'>,
    change: Partial<{ state: TrialState; jobId: string; targetEpoch: number; segmentStart: number; epochsTrained: number; results: TrialResult[]; lineage: LineageStep[]; params: TrialParams; reason: string | null }>,
  ): Promise<void> {
    const { results, lineage, params, ...plain } = change;
    const data: Prisma.TrialUncheckedUpdateManyInput = {
      ...plain,
      ...(results ? { results: results as unknown as Prisma.InputJsonValue } : {}),
      ...(lineage ? { lineage: lineage as unknown as Prisma.InputJsonValue } : {}),
      ...(params ? { params: params as Prisma.InputJsonValue } : {}),
    };
    const { count } = await tx.trial.updateMany({ where: { id: trial.id, state: trial.state, jobId: trial.jobId }, data });
    if (count === 0) throw new StaleTrialError(`trial ${trial.id} is no longer ${trial.state} on job ${trial.jobId}`);
  }

  async createTrialIn(tx: Tx, trial: { studyId: string; number: number; jobId: string; params: TrialParams; bracket: number; targetEpoch: number }): Promise<void> {
    await tx.trial.create({ data: { ...trial, params: trial.params as Prisma.InputJsonValue, state: 'training' } });
  }

  /** Changes the study's status (only from `from`), with its status event; null when it was not in `from`. */
  async setStatusIn(
    tx: Tx,
    id: string,
    from: StudyStatus[],
    change: { status: StudyStatus; reason?: string | null; bestTrialId?: string | null; finished?: boolean },
  ): Promise<StudyEventRecord | null> {
    const { count } = await tx.study.updateMany({
      where: { id, status: { in: from } },
      data: {
        status: change.status,
        ...(change.reason !== undefined ? { reason: change.reason } : {}),
        ...(change.bestTrialId !== undefined ? { bestTrialId: change.bestTrialId } : {}),
        ...(change.finished ? { finishedAt: new Date(), leaseOwner: null, leaseExpiresAt: null } : {}),
      },
    });
    if (count === 0) return null;
    return this.appendEventIn(tx, id, 'status', { status: change.status, ...(change.reason ? { reason: change.reason } : {}) });
  }

  async setBestIn(tx: Tx, id: string, bestTrialId: string | null): Promise<void> {
    await tx.study.update({ where: { id }, data: { bestTrialId } });
  }

  async setFinalJob(id: string, jobId: string): Promise<void> {
    await this.prisma.study.update({ where: { id }, data: { finalJobId: jobId } });
  }

  /** The next event of the study's log; the row lock on the study serialises writers. */
  async appendEventIn(tx: Tx, studyId: string, type: StudyEventType, data: Record<string, unknown>): Promise<StudyEventRecord> {
    const { lastSeq } = await tx.study.update({ where: { id: studyId }, data: { lastSeq: { increment: 1 } }, select: { lastSeq: true } });
    const row = await tx.studyEvent.create({ data: { studyId, seq: lastSeq, type, data: data as Prisma.InputJsonValue } });
    return toStudyEventRecord(row);
  }

  async events(studyId: string, afterSeq: number, limit: number): Promise<StudyEventRecord[]> {
    const rows = await this.prisma.studyEvent.findMany({ where: { studyId, seq: { gt: afterSeq } }, orderBy: { seq: 'asc' }, take: limit });
    return rows.map(toStudyEventRecord);
  }

  /** A job's epoch metrics at `epoch`, or at its last recorded epoch. */
  async epochMetrics(jobId: string, epoch?: number): Promise<{ epoch: number; values: Record<string, number> } | null> {
    const row = await this.prisma.metric.findFirst({
      where: { jobId, scope: 'epoch', ...(epoch !== undefined ? { epoch } : {}) },
      orderBy: { step: 'desc' },
      select: { epoch: true, values: true },
    });
    return row ? { epoch: row.epoch, values: row.values as Record<string, number> } : null;
  }

  /** The job's newest checkpoint at the end of `epoch` (not a final one), to continue another trial from. */
  async checkpointAtEpoch(jobId: string, epoch: number) {
    return this.prisma.checkpoint.findFirst({ where: { jobId, epoch, reason: { in: ['epoch', 'pause'] } }, orderBy: { step: 'desc' } });
  }
}

const iso = (value: Date | null) => (value ? value.toISOString() : null);

export function toStudyRecord(row: Study): StudyRecord {
  const spec = resolvedStudySpecSchema.parse(row.spec);
  return {
    id: row.id,
    projectId: row.projectId,
    name: spec.name ?? null,
    status: row.status,
    spec,
    reason: row.reason,
    bestTrialId: row.bestTrialId,
    finalJobId: row.finalJobId,
    lastSeq: row.lastSeq,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    finishedAt: iso(row.finishedAt),
  };
}

function toTrialRecord(row: Trial): TrialRecord {
  return {
    id: row.id,
    studyId: row.studyId,
    number: row.number,
    jobId: row.jobId,
    params: row.params as TrialParams,
    bracket: row.bracket,
    state: row.state as TrialState,
    targetEpoch: row.targetEpoch,
    segmentStart: row.segmentStart,
    epochsTrained: row.epochsTrained,
    results: row.results as unknown as TrialResult[],
    lineage: row.lineage as unknown as LineageStep[],
    reason: row.reason,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

function toStudyEventRecord(row: StudyEvent): StudyEventRecord {
  return { seq: row.seq, type: row.type as StudyEventType, data: row.data as Record<string, unknown>, createdAt: row.createdAt.toISOString() };
}
