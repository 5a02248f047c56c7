import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { EarlyStopping, type EarlyStoppingOptions } from '../../../src/engine/callbacks/early-stopping.js';

/**
 * Keras 3's EarlyStopping.on_epoch_end / on_train_end, transcribed line by line (epochs 1-based
 * here): the reference the callback must reproduce on any metric series.
 */
function kerasEarlyStopping(series: number[], o: EarlyStoppingOptions): { stoppedEpoch: number | null; restoredEpoch: number | null } {
  const less = o.mode === 'min' || (o.mode === 'auto' && !o.monitor.endsWith('accuracy'));
  const minDelta = less ? -o.minDelta : o.minDelta;
  const op = (a: number, b: number) => (less ? a < b : a > b);
  const isImprovement = (value: number, reference: number | null) => reference === null || op(value - minDelta, reference);
  let wait = 0;
  let best: number | null = null;
  let bestEpoch: number | null = null;
  let bestWeights: number | null = null;
  for (const [index, current] of series.entries()) {
    if (o.restoreBest && bestWeights === null) {
      bestWeights = index;
      bestEpoch = index;
    }
    wait += 1;
    if (isImprovement(current, best)) {
      best = current;
      bestEpoch = index;
      if (o.restoreBest) bestWeights = index;
      if (o.baseline === undefined || isImprovement(current, o.baseline)) wait = 0;
      continue;
    }
    if (wait >= o.patience && index > 0) return { stoppedEpoch: index + 1, restoredEpoch: o.restoreBest ? bestWeights! + 1 : null };
  }
  return { stoppedEpoch: null, restoredEpoch: o.restoreBest && bestEpoch !== null ? bestWeights! + 1 : null };
}

/** Runs the callback over the series with a one-weight model whose weight is the epoch number. */
function run(series: number[], o: EarlyStoppingOptions) {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [1], useBias: false })] });
  const events: unknown[] = [];
  const callback = new EarlyStopping(o, model, { emit: (e) => events.push(e) });
  let stoppedEpoch: number | null = null;
  for (const [index, value] of series.entries()) {
    const epoch = index + 1;
    model.setWeights([tf.tensor2d([[epoch]])]);
    const verdict = callback.onEpochEnd({ epoch, metrics: { [o.monitor]: value }, last: epoch === series.length });
    if (verdict?.action === 'stop') {
      stoppedEpoch = epoch;
      break;
    }
  }
  callback.onTrainEnd();
  const weight = (model.getWeights()[0]!.dataSync() as Float32Array)[0]!;
  callback.dispose();
  model.dispose();
  return { stoppedEpoch, finalWeightEpoch: weight, events };
}

const losses = [1, 0.8, 0.7, 0.72, 0.69, 0.695, 0.71, 0.7, 0.73, 0.75, 0.74, 0.76];
const accuracies = [0.5, 0.6, 0.6, 0.62, 0.61, 0.61, 0.63, 0.6, 0.6, 0.59];

describe('EarlyStopping is Keras 3\'s', () => {
  const configs: [string, number[], EarlyStoppingOptions][] = [
    ['patience 2', losses, { monitor: 'val_loss', mode: 'auto', patience: 2, minDelta: 0, restoreBest: true }],
    ['patience 0', losses, { monitor: 'val_loss', mode: 'auto', patience: 0, minDelta: 0, restoreBest: true }],
    ['minDelta 0.02', losses, { monitor: 'val_loss', mode: 'min', patience: 2, minDelta: 0.02, restoreBest: true }],
    ['baseline never reached', losses, { monitor: 'val_loss', mode: 'auto', patience: 2, minDelta: 0, baseline: 0.5, restoreBest: true }],
    ['baseline reached', losses, { monitor: 'val_loss', mode: 'auto', patience: 3, minDelta: 0, baseline: 0.75, restoreBest: true }],
    ['accuracy, auto = max', accuracies, { monitor: 'val_accuracy', mode: 'auto', patience: 2, minDelta: 0, restoreBest: true }],
    ['without restoreBest', losses, { monitor: 'loss', mode: 'auto', patience: 2, minDelta: 0, restoreBest: false }],
    ['patience never runs out: the best weights are still restored at the end', losses, { monitor: 'val_loss', mode: 'auto', patience: 50, minDelta: 0, restoreBest: true }],
    ['patience runs out on the last epoch', losses.slice(0, 8), { monitor: 'val_loss', mode: 'auto', patience: 3, minDelta: 0, restoreBest: true }],
  ];

  it.each(configs)('%s', (_name, series, options) => {
    const keras = kerasEarlyStopping(series, options);
    const ours = run(series, options);
    expect(ours.stoppedEpoch).toBe(keras.stoppedEpoch);
    const lastEpoch = ours.stoppedEpoch ?? series.length;
    expect(ours.finalWeightEpoch).toBe(keras.restoredEpoch ?? lastEpoch);
  });

  it('says why it stopped', () => {
    const { events } = run(losses, { monitor: 'val_loss', mode: 'auto', patience: 2, minDelta: 0, restoreBest: true });
    expect(events).toEqual([expect.objectContaining({ type: 'earlyStop', epoch: 7, bestEpoch: 5, reason: 'early stop at epoch 7, best val_loss 0.69 at epoch 5 (its weights restored)' })]);
  });
});
