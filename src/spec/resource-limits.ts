import type { DatasetShape } from './dataset-spec.js';
import type { ResolvedJobSpec } from './job-spec.js';
import { inferShapes } from './layer-shapes.js';
import { estimateMemory, formatBytes, memoryParts, sharesByField, type MemoryPart } from './memory-estimate.js';

/** What one training process of a worker may use (WORKER_MEMORY_LIMIT_MB, TRAINING_THREADS). */
export interface WorkerLimits {
  memoryBytes: number;
  /** Training threads a distributed job may start. */
  threads: number;
  /** TRAINING_IN_MEMORY_BYTES: an upload's features above it are streamed from disk; absent, every upload is loaded. */
  inMemoryBytes?: number;
}

/** Why a valid spec cannot run on this deployment's workers: the field to change, and the numbers behind it. */
export interface ResourceRefusal {
  field: string;
  /** For the field's entry in `errors`: short. */
  message: string;
  /** The whole story, for the problem's `detail`. */
  detail: string;
  /** Members of the problem body: the estimate and the limit, or the thread count and the limit. */
  extensions: MemoryRefusalDetails | ThreadRefusalDetails | StreamedRefusalDetails;
}

export interface StreamedRefusalDetails {
  featureBytes: number;
  inMemoryBytes: number;
}

export interface MemoryRefusalDetails {
  estimateBytes: number;
  limitBytes: number;
  breakdown: Record<MemoryPart, number>;
  /** The fields that set the most memory, largest first. */
  largest: { field: string; bytes: number }[];
}

export interface ThreadRefusalDetails {
  threads: number;
  threadLimit: number;
}

/** Training threads a distributed job starts, as the worker resolves them ("auto": as many as it may). */
export function trainingThreadsOf(spec: Pick<ResolvedJobSpec, 'distributed'>, limit: number): number {
  const distributed = spec.distributed;
  if (!distributed) return 0;
  const workers = distributed.workers === 'auto' ? limit : distributed.workers;
  return workers + (distributed.strategy === 'sync' ? distributed.backupWorkers : 0);
}

const hints: Partial<Record<string, string>> = {
  units: 'fewer units',
  filters: 'fewer filters',
  inputDim: 'a smaller vocabulary',
  outputDim: 'a smaller outputDim',
  batchSize: 'a smaller batchSize',
  loss: 'sparseCategoricalCrossentropy',
  rows: 'fewer rows',
  limit: 'a smaller limit',
  workers: 'fewer workers',
};

/**
 * The first limit a resolved spec breaks, or null when it fits: too many training threads, then an
 * estimated memory above the limit (src/spec/memory-estimate.ts), naming the field that accounts
 * for the most of it.
 */
export function resourceRefusal(spec: ResolvedJobSpec, info: DatasetShape, limits: WorkerLimits): ResourceRefusal | null {
  const streaming = streamingRefusal(spec, info);
  if (streaming) return streaming;
  const threads = trainingThreadsOf(spec, limits.threads);
  if (threads > limits.threads) {
    const distributed = spec.distributed!;
    const field = typeof distributed.workers === 'number' && distributed.workers > limits.threads ? 'distributed.workers' : 'distributed.backupWorkers';
    const message = `${threads} training threads (workers + backupWorkers) is more than the ${limits.threads} a training process of this deployment may start (TRAINING_THREADS, by default the cores)`;
    return {
      field,
      message,
      detail: `${field}: ${message}`,
      extensions: { threads, threadLimit: limits.threads },
    };
  }
  // The spec checks refuse a model whose shapes do not infer (a 400): there is nothing to estimate.
  if ('message' in inferShapes(info.inputShape ?? [info.featureSize], spec.model.layers)) return null;
  const estimate = estimateMemory(spec, info, { threads });
  if (estimate.bytes <= limits.memoryBytes) return null;
  const shares = sharesByField(estimate);
  const top = shares[0]!;
  const biggest = [...top.items].sort((a, b) => b.bytes - a.bytes).slice(0, 3);
  const hint = hints[top.field.split('.').at(-1)!.replace(/\[\d+\]$/, '')];
  const over = `the job needs an estimated ${formatBytes(estimate.bytes)}, more than the ${formatBytes(limits.memoryBytes)} a training process may use (WORKER_MEMORY_LIMIT_MB)`;
  return {
    field: top.field,
    message: `sets ${formatBytes(top.bytes)} of the estimated ${formatBytes(estimate.bytes)}; the limit is ${formatBytes(limits.memoryBytes)}${hint ? `. Try ${hint}` : ''}`,
    detail: `${over}. ${top.field} sets ${formatBytes(top.bytes)} of it: ${biggest.map((item) => `${item.what}, ${formatBytes(item.bytes)}`).join('; ')}${hint ? `. Try ${hint}` : ''}`,
    extensions: {
      estimateBytes: safe(estimate.bytes),
      limitBytes: safe(limits.memoryBytes),
      breakdown: Object.fromEntries(memoryParts.map((part) => [part, safe(estimate.parts[part])])) as Record<MemoryPart, number>,
      largest: shares.slice(0, 5).map((share) => ({ field: share.field, bytes: safe(share.bytes) })),
    },
  };
}

/**
 * What cannot read its rows a batch at a time: augmentation and distributed training hand the
 * whole training tensor to other threads. Refused rather than loaded anyway, since the set was
 * streamed because it may not fit.
 */
function streamingRefusal(spec: ResolvedJobSpec, info: DatasetShape): ResourceRefusal | null {
  const streamed = info.streamed;
  const field = spec.augmentation ? 'augmentation' : spec.distributed ? 'distributed' : null;
  if (!streamed || !field || spec.task !== 'train') return null;
  const what = field === 'augmentation' ? 'augmentation reads the whole training set on a thread of its own' : "distributed training shares the whole training set with its threads";
  const message = `${what}, and this upload's ${formatBytes(streamed.featureBytes)} of features are streamed from disk (more than the ${formatBytes(streamed.inMemoryBytes)} of TRAINING_IN_MEMORY_BYTES): drop ${field}, or raise TRAINING_IN_MEMORY_BYTES on the API and the workers`;
  return { field, message, detail: `${field}: ${message}`, extensions: { featureBytes: streamed.featureBytes, inMemoryBytes: streamed.inMemoryBytes } };
}

// A spec at every maximum can need more bytes than a double holds exactly: say so with the largest exact integer.
const safe = (bytes: number) => Math.min(Math.ceil(bytes), Number.MAX_SAFE_INTEGER);
