import { JobStatus as JobStatusEnum, type JobStatus, type MetricScope } from '../generated/prisma/enums.js';
import type { CheckpointReason } from '../engine/checkpoint-reasons.js';
import type { ResolvedJobSpec } from '../spec/job-spec.js';

export type { JobStatus, MetricScope };

/** Every status, from the Prisma schema (the database enum is the source). */
export const jobStatuses = Object.values(JobStatusEnum) as [JobStatus, ...JobStatus[]];

/** One entry of a job's ordered event log; `seq` starts at 1 and has no gaps. */
export interface JobEventRecord {
  seq: number;
  type: JobEventType;
  data: Record<string, unknown>;
  createdAt: string;
  /** When training produced it; the same as createdAt for the service's own events. */
  emittedAt: string;
}

export const jobEventTypes = ['status', 'advice', 'started', 'metrics', 'optimizerPhase', 'divergence', 'lrRangeTest', 'resumed', 'checkpoint', 'preprocessing', 'earlyStop', 'activationVariance', 'transfer', 'threadFailed', 'distributed'] as const;
export type JobEventType = (typeof jobEventTypes)[number];

export interface JobRecord {
  id: string;
  projectId: string;
  name: string | null;
  status: JobStatus;
  spec: ResolvedJobSpec;
  backend: string | null;
  device: string | null;
  failureReason: string | null;
  attempts: number;
  /** Restarts after failures that were not the spec's fault (spec.maxRestarts bounds them). */
  restarts: number;
  /** Why each restart happened, in plain words, oldest first. */
  restartCauses: string[];
  progress: number;
  /** The job pauses (checkpointed) at the end of this epoch: set by its study's scheduler. */
  pauseAtEpoch: number | null;
  lastSeq: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

export interface MetricRecord {
  scope: MetricScope;
  epoch: number;
  step: number;
  values: Record<string, number>;
  createdAt: string;
}

export interface CheckpointRecord {
  id: string;
  epoch: number;
  step: number;
  reason: CheckpointReason;
  sizeBytes: number;
  sha256: string;
  metrics: Record<string, number>;
  isBest: boolean;
  createdAt: string;
}
