import * as tf from '@tensorflow/tfjs';
import { runShape, type ResolvedJobSpec } from '../spec/job-spec.js';
import type { Dataset } from './datasets/loader.js';
import { createRng, deriveSeed, permutation } from './random.js';

export const SPLIT_STREAM = 1;

export interface Split {
  trainX: tf.Tensor2D;
  trainY: tf.Tensor2D;
  valX: tf.Tensor2D | null;
  valY: tf.Tensor2D | null;
  trainRows: number;
  validationRows: number;
}

/** Seeded shuffle, optional row limit, then the last `validationSplit` of the rows held out. */
export function splitDataset(dataset: Dataset, spec: ResolvedJobSpec): Split {
  const order = permutation(dataset.rows, createRng(deriveSeed(spec.seed, SPLIT_STREAM)));
  const limit = 'limit' in spec.dataset ? spec.dataset.limit : undefined;
  const { trainRows, validationRows } = runShape(spec, Math.min(limit ?? dataset.rows, dataset.rows));
  const take = (start: number, count: number): [tf.Tensor2D, tf.Tensor2D] => {
    const x = new Float32Array(count * dataset.featureSize);
    const y = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const row = order[start + i]!;
      x.set(dataset.features.subarray(row * dataset.featureSize, (row + 1) * dataset.featureSize), i * dataset.featureSize);
      y[i] = dataset.labels[row]!;
    }
    const oneHot = tf.tidy(() => tf.oneHot(tf.tensor1d(y, 'int32'), dataset.classes).toFloat() as tf.Tensor2D);
    return [tf.tensor2d(x, [count, dataset.featureSize]), oneHot];
  };
  const [trainX, trainY] = take(0, trainRows);
  const [valX, valY] = validationRows > 0 ? take(trainRows, validationRows) : [null, null];
  return { trainX, trainY, valX, valY, trainRows, validationRows };
}

export function disposeSplit(split: Split): void {
  tf.dispose([split.trainX, split.trainY, ...(split.valX ? [split.valX] : []), ...(split.valY ? [split.valY] : [])]);
}
