import * as tf from '@tensorflow/tfjs';
import { inMemoryRows, type Split } from './dataset-split.js';
import type { Objective } from './objective.js';
import { positions } from './streamed-split.js';
import { evaluate } from './train-step.js';

/**
 * A training batch of `rows` (positions in the training rows) from wherever the split keeps them:
 * gathered from its tensors, or read from disk. `next`, the batch after it, starts reading now so
 * the disk works while this one computes.
 */
export async function trainingBatch(split: Split, rows: Int32Array, next?: Int32Array): Promise<{ x: tf.Tensor; y: tf.Tensor }> {
  const streamed = split.streamed;
  if (streamed) {
    const batch = streamed.batch(rows);
    if (next) streamed.prefetch(next);
    return batch;
  }
  const [trainX, trainY] = [inMemoryRows(split, 'trainX', 'a training batch'), inMemoryRows(split, 'trainY', 'a training batch')];
  return tf.tidy(() => {
    const indices = tf.tensor1d(rows, 'int32');
    return { x: tf.gather(trainX, indices), y: tf.gather(trainY, indices) };
  });
}

/** The first `rows` training rows' x, for the diagnostics that look at a few. */
export async function firstTrainingRows(split: Split, rows: number): Promise<tf.Tensor> {
  if (!split.streamed) return inMemoryRows(split, 'trainX', 'the diagnostics').slice([0], [rows]);
  const { x, y } = await split.streamed.batch(positions(0, rows));
  y.dispose();
  return x;
}

/** Loss and score on the validation or test rows, or null when the split has none. */
export async function evaluatePart(model: tf.LayersModel, split: Split, part: 'validation' | 'test', objective: Pick<Objective, 'loss' | 'probabilities' | 'regression'>): Promise<{ loss: number; score: number } | null> {
  if ((part === 'validation' ? split.validationRows : split.testRows) === 0) return null;
  if (split.streamed) return split.streamed.evaluate(model, part, objective);
  const [x, y] = part === 'validation' ? [split.valX, split.valY] : [split.testX, split.testY];
  return x && y ? evaluate(model, x, y, objective) : null;
}
