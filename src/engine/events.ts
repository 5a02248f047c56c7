import type { OptimizerConfig } from '../spec/optimizer-spec.js';
import type { CheckpointData } from './checkpoint-data.js';
import type { LayerVariance } from './diagnostics.js';
import type { ThreadStats } from './distributed/worker-stats.js';
import type { LearningRate } from '../spec/schedule-spec.js';
import type { GpuAdapterDescription } from './backends/webgpu.js';
import type { VocabularySummary } from './text-vocabulary.js';

/**
 * What the engine reports while it trains. The engine knows nothing of where these go; the worker
 * turns them into database rows and stream messages.
 */
export type MetricValues = Record<string, number>;

export type TrainingEvent =
  | {
      type: 'started';
      backend: string;
      device: string;
      /** On webgpu: the adapter Dawn chose and its limits. */
      adapter?: GpuAdapterDescription;
      trainRows: number;
      validationRows: number;
      testRows: number;
      stepsPerEpoch: number;
      totalSteps: number;
      parameters: number;
      /** The run reads its feature rows from this file of the data set a batch at a time, instead of loading them (TRAINING_IN_MEMORY_BYTES). */
      streamed?: { dataset: string; file: string; featureBytes: number };
    }
  | { type: 'batchMetrics'; epoch: number; step: number; values: MetricValues }
  | {
      type: 'epochMetrics';
      epoch: number;
      step: number;
      values: MetricValues;
      durationMs: number;
      samplesPerSecond: number;
    }
  /** A new optimizer phase begins (fresh optimizer state); also sent for the first phase of a phased run. */
  | { type: 'optimizerPhase'; phase: number; fromEpoch: number; untilEpoch: number; optimizer: OptimizerConfig; learningRate: LearningRate }
  /** The loss diverged: the run went back to the end of `rolledBackToEpoch` (its last checked weights) and halved its rate. */
  | {
      type: 'divergence';
      epoch: number;
      step: number;
      loss: number;
      reason: string;
      rolledBackToEpoch: number;
      oldLearningRate: number;
      newLearningRate: number;
      retry: number;
      maxRetries: number;
    }
  /** Feature scaling fitted on the training rows: x' = (x − shift) / scale. */
  | { type: 'preprocessing'; features: 'standardize' | 'minMax'; shift: number[]; scale: number[] }
  /** A text set's vocabulary fitted on the training rows (the whole of it is in every checkpoint). */
  | { type: 'preprocessing'; vocabulary: VocabularySummary }
  /** Early stopping ended the run; `reason` says so in words. */
  | { type: 'earlyStop'; epoch: number; bestEpoch: number; monitor: string; best: number; restoredBest: boolean; reason: string }
  /** Per-layer output variance at step 0 on the first training rows (diagnostics.activationVariance). */
  | { type: 'activationVariance'; step: 0; rows: number; input: number; layers: LayerVariance[] }
  /** The run starts from another job's weights (spec.init): what was loaded and frozen, and why. */
  | {
      type: 'transfer';
      from: { job: string; checkpoint: string };
      /** Further sources, each with the layers it gave. */
      alsoFrom?: { job: string; checkpoint: string; layers: string[] }[];
      mode: 'finetune' | 'linearProbe';
      loaded: string[];
      frozen: string[];
      reason: string;
    }
  /** A training thread of a distributed run failed; the run goes on with `remaining` if its strategy can. */
  | { type: 'threadFailed'; thread: number; message: string; remaining: number; strategy: string }
  /** A distributed run's per-thread numbers for an epoch, and its speed-up over one thread. */
  | { type: 'distributed'; epoch: number; strategy: string; workers: number; threads: ThreadStats[]; speedup: number }
  /** The run continues from a checkpoint instead of starting over. */
  | { type: 'resumed'; fromEpoch: number; fromStep: number; reason: string }
  | {
      type: 'lrRangeTest';
      points: number;
      stoppedEarly: boolean;
      suggestedLearningRate: number;
      minLossLearningRate: number;
      /** The short runs from the starting weights that chose the suggestion among the sweep's candidates. */
      trials: { learningRate: number; loss: number; fell: boolean }[];
    };

export interface TrainingResult {
  epochs: number;
  /** Why the run ended before its last epoch, if it did. */
  stopReason?: string;
  /** The run paused here as TrainingOptions.pauseAfterEpoch asked; it has not ended. */
  pausedAtEpoch?: number;
  steps: number;
  finalMetrics: MetricValues;
  durationMs: number;
}

export interface TrainingEventSink {
  emit(event: TrainingEvent): void;
  /** Receives checkpoints; a sink without it gets none (and the run skips capturing them). */
  checkpoint?(data: CheckpointData): void;
}

/**
 * Why a run is stopped from outside, passed as the AbortSignal's reason. The run writes a
 * checkpoint first for those that will continue or be inspected later.
 */
// leaseLost: another worker holds the job now; fenced: this worker could not renew its lease in
// time (PostgreSQL unreachable) and stops before another may take the job over.
export type AbortReason = 'cancel' | 'pause' | 'shutdown' | 'timeout' | 'leaseLost' | 'fenced';
export const checkpointingAborts: ReadonlySet<string> = new Set<AbortReason>(['pause', 'shutdown', 'timeout']);

/** Thrown when a run is stopped from outside between two batches; `reason` is the signal's. */
export class TrainingAbortedError extends Error {
  override name = 'TrainingAbortedError';
  constructor(readonly reason: string) {
    super(`training stopped: ${reason}`);
  }
}

/** A failure caused by the spec or its data, worded for the user who submitted it. */
export class TrainingSpecError extends Error {
  override name = 'TrainingSpecError';
}

/**
 * A distributed run lost the training threads it needs. Nothing is wrong with the spec: a new
 * attempt (fresh threads, from the last checkpoint) can succeed.
 */
export class ThreadsLostError extends Error {
  override name = 'ThreadsLostError';
}
