import type { CheckpointReason } from '../checkpoint-data.js';
import type { MetricValues } from '../events.js';
import { MonitoredMetric } from './monitored-metric.js';
import type { CallbackState, EpochEnd, TrainingCallback } from './training-callback.js';

/** Writes one checkpoint of the run as it is now. */
export type CheckpointWriter = (reason: CheckpointReason, metrics: MetricValues, isBest: boolean) => Promise<void>;

interface CheckpointingValues {
  best: { value: number; epoch: number } | null;
  /** Whether the last epoch seen was the best so far. */
  lastWasBest: boolean;
}

/**
 * The checkpoint policy: one every `everyEpochs` epochs and one when the run ends with its final
 * model. Each is marked best when its epoch improved the monitored metric (the final one also when
 * it holds the restored best epoch), so "best" checkpoints follow the same metric as early stopping.
 */
export class Checkpointing implements TrainingCallback {
  readonly name = 'checkpointing';
  private values: CheckpointingValues = { best: null, lastWasBest: false };

  constructor(
    private readonly everyEpochs: number,
    private readonly metric: MonitoredMetric,
    private readonly write: CheckpointWriter,
  ) {}

  onEpochEnd({ epoch, metrics }: EpochEnd): null {
    const value = this.metric.valueIn(metrics);
    const best = this.values.best;
    this.values.lastWasBest = value !== undefined && (!best || this.metric.isImprovement(value, best.value));
    if (this.values.lastWasBest) this.values.best = { value: value!, epoch };
    return null;
  }

  async onEpochAccepted({ epoch, metrics }: EpochEnd): Promise<void> {
    if (epoch % this.everyEpochs === 0) await this.write('epoch', metrics, this.values.lastWasBest);
  }

  /** Makes sure a checkpoint of this epoch's end exists (the run pauses there): written unless the policy just wrote one. */
  async atEpochEnd({ epoch, metrics }: EpochEnd): Promise<void> {
    if (epoch % this.everyEpochs !== 0) await this.write('pause', metrics, this.values.lastWasBest);
  }

  /** The final checkpoint, once the run's final model is scored; `restoredBest`: it holds the best epoch's weights. */
  async final(metrics: MetricValues, restoredBest: boolean): Promise<void> {
    await this.write('final', metrics, restoredBest || this.values.lastWasBest);
  }

  /** A checkpoint taken because the run is stopped from outside (pause, shutdown, timeout). */
  async interrupted(reason: CheckpointReason, metrics: MetricValues): Promise<void> {
    await this.write(reason, metrics, false);
  }

  state(): CallbackState {
    return { values: structuredClone(this.values), tensors: [] };
  }

  restore(state: CallbackState): void {
    this.values = structuredClone(state.values as CheckpointingValues);
  }
}
