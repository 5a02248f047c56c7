import * as tf from '@tensorflow/tfjs';
import type { MetricValues, TrainingEventSink } from '../events.js';
import { MonitoredMetric, type MonitorMode } from './monitored-metric.js';
import type { CallbackState, EpochEnd, EpochVerdict, TrainingCallback } from './training-callback.js';

export interface EarlyStoppingOptions {
  monitor: string;
  mode: MonitorMode;
  patience: number;
  minDelta: number;
  baseline?: number | undefined;
  restoreBest: boolean;
}

interface EarlyStoppingValues {
  best: { value: number; epoch: number } | null;
  /** The best epoch's metrics, reported as the run's when its weights are restored. */
  bestMetrics: MetricValues | null;
  /** Epochs since the counter was last reset (Keras's `wait`). */
  wait: number;
  stoppedEpoch: number | null;
}

/**
 * Keras 3's EarlyStopping, epoch for epoch: `wait` counts epochs, an epoch that improves on the best
 * (by more than minDelta) becomes the best and resets `wait` only if it also beats `baseline`; the
 * run stops once `wait` reaches `patience` (an epoch that improves never stops it). With
 * restoreBest the model ends with the best epoch's weights however the run ends: stopped early,
 * stopped on its last epoch, or run to the end (on_train_end restores them).
 */
export class EarlyStopping implements TrainingCallback {
  readonly name = 'earlyStopping';
  private readonly metric: MonitoredMetric;
  private values: EarlyStoppingValues = { best: null, bestMetrics: null, wait: 0, stoppedEpoch: null };
  private bestWeights: tf.Tensor[] | null = null;

  constructor(
    private readonly options: EarlyStoppingOptions,
    private readonly model: tf.LayersModel,
    private readonly sink: TrainingEventSink,
  ) {
    this.metric = new MonitoredMetric(options.monitor, options.mode, { minDelta: options.minDelta });
  }

  onEpochEnd({ epoch, metrics }: EpochEnd): EpochVerdict | null {
    const current = this.metric.valueIn(metrics);
    if (current === undefined) return null;
    const { best } = this.values;
    this.values.wait += 1;
    if (!best || this.metric.isImprovement(current, best.value)) {
      this.values.best = { value: current, epoch };
      this.values.bestMetrics = { ...metrics };
      if (this.options.restoreBest) {
        if (this.bestWeights) tf.dispose(this.bestWeights);
        this.bestWeights = this.model.getWeights().map((weight) => weight.clone());
      }
      if (this.options.baseline === undefined || this.metric.isImprovement(current, this.options.baseline)) this.values.wait = 0;
      return null;
    }
    if (this.values.wait < this.options.patience) return null;
    this.values.stoppedEpoch = epoch;
    const bestNow = this.values.best!;
    const restored = this.options.restoreBest && this.bestWeights !== null;
    const reason = `early stop at epoch ${epoch}, best ${this.metric.name} ${Number(bestNow.value.toPrecision(4))} at epoch ${bestNow.epoch}${restored ? ' (its weights restored)' : ''}`;
    this.sink.emit({ type: 'earlyStop', epoch, bestEpoch: bestNow.epoch, monitor: this.metric.name, best: bestNow.value, restoredBest: restored, reason });
    return { action: 'stop', reason };
  }

  /** Keras 3's on_train_end: the best weights go back into the model whenever they were kept. */
  onTrainEnd(): void {
    if (this.options.restoreBest && this.bestWeights) this.model.setWeights(this.bestWeights);
  }

  /** The metrics the final model has: the best epoch's once its weights are restored. */
  finalMetrics(last: MetricValues): MetricValues {
    return this.options.restoreBest && this.bestWeights && this.values.bestMetrics ? { ...this.values.bestMetrics } : last;
  }

  /** Whether the final model is a restored earlier epoch (its checkpoint is then the best one). */
  get restoresBest(): boolean {
    return this.options.restoreBest && this.bestWeights !== null;
  }

  get bestEpoch(): number | null {
    return this.values.best?.epoch ?? null;
  }

  state(): CallbackState {
    return { values: structuredClone(this.values), tensors: this.bestWeights ? this.bestWeights.map((weight) => weight.clone()) : [] };
  }

  restore(state: CallbackState): void {
    this.values = structuredClone(state.values as EarlyStoppingValues);
    if (this.bestWeights) tf.dispose(this.bestWeights);
    this.bestWeights = state.tensors.length > 0 ? state.tensors.map((tensor) => tensor.clone()) : null;
  }

  dispose(): void {
    if (this.bestWeights) tf.dispose(this.bestWeights);
    this.bestWeights = null;
  }
}
