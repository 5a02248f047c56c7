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
