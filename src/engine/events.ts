import type { OptimizerConfig } from '../spec/optimizer-spec.js';
import type { LearningRate } from '../spec/schedule-spec.js';

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
      trainRows: number;
      validationRows: number;
      stepsPerEpoch: number;
      totalSteps: number;
      parameters: number;
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
  /** The loss diverged: the run went back to the end of `rolledBackToEpoch` and halved its rate. */
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
  | {
      type: 'lrRangeTest';
      points: number;
      stoppedEarly: boolean;
      suggestedLearningRate: number;
      minLossLearningRate: number;
    };

export interface TrainingResult {
  epochs: number;
  steps: number;
  finalMetrics: MetricValues;
  durationMs: number;
}

export interface TrainingEventSink {
  emit(event: TrainingEvent): void;
}

/** Thrown when a run is stopped from outside (shutdown, cancel) between two batches. */
export class TrainingAbortedError extends Error {
  override name = 'TrainingAbortedError';
}

/** A failure caused by the spec or its data, worded for the user who submitted it. */
export class TrainingSpecError extends Error {
  override name = 'TrainingSpecError';
}
