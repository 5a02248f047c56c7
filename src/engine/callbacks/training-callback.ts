import type * as tf from '@tensorflow/tfjs';
import type { MetricValues } from '../events.js';

/** One optimizer step, as callbacks see it. */
export interface StepEnd {
  epoch: number;
  step: number;
  /** The step's training loss (the batch mean, before the update it led to). */
  loss: number;
}

/** One finished epoch: its training and validation metrics, and whether it is the run's last. */
export interface EpochEnd {
  epoch: number;
  metrics: MetricValues;
  last: boolean;
}

/** What an epoch's end asks of the run. The first callback that asks anything wins. */
export type EpochVerdict = { action: 'rollback'; reason: string; loss: number } | { action: 'stop'; reason: string };

/** A callback's state: plain values for state.json, and tensors the caller owns (copies). */
export interface CallbackState {
  values: unknown;
  tensors: tf.Tensor[];
}

/**
 * Something the trainer calls at batch, epoch and run ends (Keras's Callback, cut to what the
 * product needs): early stopping, divergence recovery, reduce-on-plateau and checkpointing are each
 * one. A callback with state gives it as `state()` and takes it back with `restore()`, so a
 * checkpoint, and divergence recovery's rollback, carry it exactly.
 */
export interface TrainingCallback {
  /** Key of its state in a checkpoint's run state. */
  readonly name: string;
  /** After every optimizer step; a string says why the run must roll back (NaN/Inf loss). */
  onStepEnd?(step: StepEnd): string | null;
  /** When an epoch's metrics are known, before they are reported. */
  onEpochEnd?(epoch: EpochEnd): EpochVerdict | null;
  /** Once the epoch is accepted (no rollback) and the run goes on to the next one. */
  onEpochAccepted?(epoch: EpochEnd): Promise<void> | void;
  /** The run ends with a model, after its last epoch or an early stop; before the test split is scored. */
  onTrainEnd?(epoch: EpochEnd): Promise<void> | void;
  state?(): CallbackState;
  restore?(state: CallbackState): void;
  dispose?(): void;
}
