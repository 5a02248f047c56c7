import type { StudyStatus } from '../generated/prisma/enums.js';
import type { JobStatus } from '../jobs/job-types.js';
import type { ResolvedStudySpec } from '../spec/study-spec.js';
import type { TrialParams } from './search-space.js';

export type { StudyStatus };

export const trialStates = ['training', 'waiting', 'stopped', 'completed', 'failed', 'cancelled'] as const;
/**
 * training: its job is queued or training toward targetEpoch; waiting: paused at a rung or an
 * interval for the scheduler; the rest are final.
 */
export type TrialState = (typeof trialStates)[number];

/** The objective each time the scheduler looked: at a rung, an interval, or the end. */
export interface TrialResult {
  epoch: number;
  value: number;
  /** ASHA: the rung (0 = first). */
  rung?: number;
}

/** PBT: a trial that took another's checkpoint and explored new values. */
export interface LineageStep {
  /** The epoch the trial was at when it took the checkpoint. */
  epoch: number;
  fromTrial: number;
  /** The epoch of the checkpoint it took (where it continues from). */
  fromEpoch: number;
  /** The job it continued as, and the one it left. */
  job: string;
  previousJob: string;
  params: TrialParams;
}

export interface TrialRecord {
  id: string;
  studyId: string;
  number: number;
  jobId: string;
  params: TrialParams;
  bracket: number;
  state: TrialState;
  targetEpoch: number;
  segmentStart: number;
  epochsTrained: number;
  results: TrialResult[];
  lineage: LineageStep[];
  reason: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A trial with what the scheduler reads of its job. */
export interface TrialWithJob extends TrialRecord {
  job: { status: JobStatus; pauseAtEpoch: number | null; runtimeMs: number; failureReason: string | null; progress: number };
}

export interface StudyRecord {
  id: string;
  projectId: string;
  name: string | null;
  status: StudyStatus;
  spec: ResolvedStudySpec;
  reason: string | null;
  bestTrialId: string | null;
  finalJobId: string | null;
  lastSeq: number;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export const studyEventTypes = ['status', 'trialStarted', 'trialResult', 'promoted', 'stopped', 'exploited', 'continued', 'trialEnded', 'best'] as const;
export type StudyEventType = (typeof studyEventTypes)[number];

export interface StudyEventRecord {
  seq: number;
  type: StudyEventType;
  data: Record<string, unknown>;
  createdAt: string;
}
