import * as tf from '@tensorflow/tfjs';
import { describeDataset, runShape, type ResolvedJobSpec } from '../spec/job-spec.js';
import type { Dataset } from './datasets/loader.js';
import { createRng, deriveSeed, permutation } from './random.js';

export const SPLIT_STREAM = 1;

/** Feature scaling fitted on the training rows, recorded so predictions can apply the same. */
export interface FittedPreprocessing {
  features: 'standardize' | 'minMax';
  /** x' = (x − shift) / scale, per feature. */
  shift: number[];
  scale: number[];
}

export interface Split {
  /** [rows, ...inputShape] */
  trainX: tf.Tensor;
  trainY: tf.Tensor2D;
  valX: tf.Tensor | null;
  valY: tf.Tensor2D | null;
  testX: tf.Tensor | null;
  testY: tf.Tensor2D | null;
  trainRows: number;
  validationRows: number;
  testRows: number;
  /** One row's shape as the model sees it: [features], or [28, 28, 1] for MNIST images. */
  inputShape: number[];
  preprocessing: FittedPreprocessing | null;
}

export function inputShapeOf(spec: ResolvedJobSpec, dataset: Dataset): number[] {
  return describeDataset(spec.dataset)?.inputShape ?? [dataset.featureSize];
}

/**
 * Seeded shuffle and optional row limit, then [train | validation | test] in that order. Scaling
 * is fitted on the training rows only, so nothing of the held-out rows leaks into training.
 */
export function splitDataset(dataset: Dataset, spec: ResolvedJobSpec): Split {
  const order = permutation(dataset.rows, createRng(deriveSeed(spec.seed, SPLIT_STREAM)));
  const limit = 'limit' in spec.dataset ? spec.dataset.limit : undefined;
  const { trainRows, validationRows, testRows } = runShape(spec, Math.min(limit ?? dataset.rows, dataset.rows));
  const size = dataset.featureSize;
  const rowsOf = (start: number, count: number): { x: Float32Array; y: Int32Array } => {
    const x = new Float32Array(count * size);
    const y = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const row = order[start + i]!;
      x.set(dataset.features.subarray(row * size, (row + 1) * size), i * size);
      y[i] = dataset.labels[row]!;
    }
    return { x, y };
  };
  const train = rowsOf(0, trainRows);
  const preprocessing = fitPreprocessing(spec.preprocessing.features, train.x, size);
  const inputShape = inputShapeOf(spec, dataset);
  const toTensors = ({ x, y }: { x: Float32Array; y: Int32Array }): [tf.Tensor, tf.Tensor2D] => {
    if (preprocessing) applyPreprocessing(preprocessing, x);
    const oneHot = tf.tidy(() => tf.oneHot(tf.tensor1d(y, 'int32'), dataset.classes).toFloat() as tf.Tensor2D);
    return [tf.tensor(x, [y.length, ...inputShape]), oneHot];
  };
  const [trainX, trainY] = toTensors(train);
  const [valX, valY] = validationRows > 0 ? toTensors(rowsOf(trainRows, validationRows)) : [null, null];
  const [testX, testY] = testRows > 0 ? toTensors(rowsOf(trainRows + validationRows, testRows)) : [null, null];
  return { trainX, trainY, valX, valY, testX, testY, trainRows, validationRows, testRows, inputShape, preprocessing };
}

export function fitPreprocessing(method: 'none' | 'standardize' | 'minMax', x: Float32Array, size: number): FittedPreprocessing | null {
  if (method === 'none') return null;
  const rows = x.length / size;
  const shift: number[] = [];
  const scale: number[] = [];
  for (let f = 0; f < size; f++) {
    let a = 0;
    let b = 0;
    if (method === 'standardize') {
      for (let r = 0; r < rows; r++) a += x[r * size + f]!;
      const mean = a / rows;
      for (let r = 0; r < rows; r++) b += (x[r * size + f]! - mean) ** 2;
      shift.push(mean);
      // A constant feature stays 0 instead of dividing by 0.
      scale.push(Math.sqrt(b / rows) || 1);
    } else {
      a = Number.POSITIVE_INFINITY;
      b = Number.NEGATIVE_INFINITY;
      for (let r = 0; r < rows; r++) {
        a = Math.min(a, x[r * size + f]!);
        b = Math.max(b, x[r * size + f]!);
      }
      shift.push(a);
      scale.push(b - a || 1);
    }
  }
  return { features: method, shift, scale };
}

export function applyPreprocessing(fitted: FittedPreprocessing, x: Float32Array): void {
  const size = fitted.shift.length;
  for (let i = 0; i < x.length; i++) x[i] = (x[i]! - fitted.shift[i % size]!) / fitted.scale[i % size]!;
}

export function disposeSplit(split: Split): void {
  tf.dispose([split.trainX, split.trainY, ...[split.valX, split.valY, split.testX, split.testY].filter((t): t is tf.Tensor => t !== null)]);
}
