import * as tf from '@tensorflow/tfjs';
import { describeDataset } from '../spec/dataset-spec.js';
import { type ResolvedJobSpec } from '../spec/job-spec.js';
import { runShapeOf } from '../spec/run-shape.js';
import { textOptionsSchema } from '../spec/text-spec.js';
import { outputLayerIndex } from '../spec/weight-shapes.js';
import type { Dataset } from './datasets/loader.js';
import { createRng, deriveSeed, permutation } from './random.js';
import { fitVocabulary, TokenEncoder, type FittedVocabulary, type VocabularySummary } from './text-vocabulary.js';

export const SPLIT_STREAM = 1;

/** Feature scaling fitted on the training rows, recorded so predictions can apply the same. */
export interface FittedScaling {
  features: 'standardize' | 'minMax';
  /** x' = (x − shift) / scale, per feature. */
  shift: number[];
  scale: number[];
}

/** What is fitted on the training rows and recorded in checkpoints: a table's scaling, or a text set's vocabulary. */
export type FittedPreprocessing = FittedScaling | FittedVocabulary;

export const scalingOf = (fitted: FittedPreprocessing | null): FittedScaling | null => (fitted && 'features' in fitted ? fitted : null);
export const vocabularyOf = (fitted: FittedPreprocessing | null): FittedVocabulary | null => (fitted && 'tokens' in fitted ? fitted : null);

export interface Split {
  /** [rows, ...inputShape] */
  trainX: tf.Tensor;
  /** Targets as the loss takes them (see `targetEncoding`). */
  trainY: tf.Tensor;
  valX: tf.Tensor | null;
  valY: tf.Tensor | null;
  testX: tf.Tensor | null;
  testY: tf.Tensor | null;
  trainRows: number;
  validationRows: number;
  testRows: number;
  /** One row's shape as the model sees it: [features], [28, 28, 1] for MNIST images, [steps, features] for sequences. */
  inputShape: number[];
  preprocessing: FittedPreprocessing | null;
  /** A text set's: what the preprocessing event reports of the vocabulary. */
  vocabularySummary?: VocabularySummary;
}

/**
 * How targets are fed to the loss: class indices (sparse cross-entropy), one-hot rows (categorical
 * cross-entropy, binary cross-entropy with a unit per class, MSE on classes), one 0/1 value (binary
 * cross-entropy with one sigmoid unit for two classes), or real values (regression).
 */
export type TargetEncoding = 'sparse' | 'oneHot' | 'binary' | 'values';

export function targetEncoding(spec: ResolvedJobSpec, target: Dataset['target']): TargetEncoding {
  if (target.kind === 'values') return 'values';
  if (spec.loss === 'sparseCategoricalCrossentropy') return 'sparse';
  const output = spec.model.layers[outputLayerIndex(spec.model.layers)];
  if (spec.loss === 'binaryCrossentropy' && target.classes === 2 && output?.type === 'dense' && output.units === 1) return 'binary';
  return 'oneHot';
}

export function inputShapeOf(spec: ResolvedJobSpec, dataset: Dataset): number[] {
  if (dataset.texts) return [textOptionsOf(spec).length];
  return describeDataset(spec.dataset)?.inputShape ?? dataset.inputShape ?? [dataset.featureSize];
}

/** A text set's options: the spec's (the job service fills them in), else the defaults. */
function textOptionsOf(spec: ResolvedJobSpec) {
  return textOptionsSchema.parse((spec.dataset.name === 'upload' ? spec.dataset.text : undefined) ?? {});
}

// MNIST's canonical test set is drawn with this seed, never the job's, so every job scores the same rows.
const FIXED_TEST_SEED = 0x4d4e4953;

/**
 * Seeded shuffle (unless spec.shuffle is false) and optional row limit, then [train | validation |
 * test] in that order. A data set's fixed test set is taken out first with its own seed. Scaling is fitted on the training
 * rows only, so nothing of the held-out rows leaks into training.
 */
export function splitDataset(dataset: Dataset, spec: ResolvedJobSpec): Split {
  const heldOut = dataset.heldOut;
  const fixedTestRows = heldOut?.test ?? describeDataset(spec.dataset)?.fixedTestRows ?? 0;
  const fixedValidationRows = heldOut?.validation ?? 0;
  const { trainRows, validationRows, testRows } = runShapeOf(spec, { rows: dataset.rows, fixedTestRows, fixedValidationRows });
  // Without shuffle the data set's own order is kept (a comparison with another framework depends on it).
  const shuffleOf = (n: number) => (spec.shuffle ? permutation(n, createRng(deriveSeed(spec.seed, SPLIT_STREAM))) : Int32Array.from({ length: n }, (_, i) => i));
  let order: Int32Array;
  if (heldOut) {
    // [train (shuffled) | validation | test], each of the data set's own sets in its stored order and
    // the others cut from the shuffled training rows, as the fractions would.
    const pool = dataset.rows - heldOut.validation - heldOut.test;
    const shuffled = shuffleOf(pool);
    const stored = (from: number, count: number) => Int32Array.from({ length: count }, (_, i) => from + i);
    let next = trainRows;
    const cut = (count: number) => shuffled.subarray(next, (next += count));
    const validation = heldOut.validation > 0 ? stored(pool, heldOut.validation) : cut(validationRows);
    const test = heldOut.test > 0 ? stored(pool + heldOut.validation, heldOut.test) : cut(testRows);
    order = new Int32Array(trainRows + validationRows + testRows);
    order.set(shuffled.subarray(0, trainRows));
    order.set(validation, trainRows);
    order.set(test, trainRows + validationRows);
  } else if (fixedTestRows > 0) {
    // [others (shuffled, or in the data set's order), cut to train + validation | the fixed test rows]
    const fixed = permutation(dataset.rows, createRng(FIXED_TEST_SEED));
    const pool = spec.shuffle ? fixed.subarray(fixedTestRows) : fixed.slice(fixedTestRows).sort();
    const shuffled = shuffleOf(pool.length);
    order = new Int32Array(trainRows + validationRows + testRows);
    for (let i = 0; i < trainRows + validationRows; i++) order[i] = pool[shuffled[i]!]!;
    order.set(fixed.subarray(0, fixedTestRows), trainRows + validationRows);
  } else {
    order = shuffleOf(dataset.rows);
  }
  const target = dataset.target;
  const targetSize = target.kind === 'classes' ? (target.steps ?? 1) : target.shape.reduce((a, b) => a * b, 1);
  // A text set's vocabulary comes from its training rows only, like scaling below.
  const texts = dataset.texts;
  const fitted = texts ? fitVocabulary(rowIndices(order, 0, trainRows, (row) => texts[row]!), textOptionsOf(spec)) : null;
  const encoder = fitted ? new TokenEncoder(fitted.vocabulary) : null;
  const size = fitted ? fitted.vocabulary.text.length : dataset.featureSize;
  const rowsOf = (start: number, count: number): { x: Float32Array; y: Int32Array | Float32Array } => {
    const x = new Float32Array(count * size);
    const y = target.kind === 'classes' ? new Int32Array(count * targetSize) : new Float32Array(count * targetSize);
    const source = target.kind === 'classes' ? target.labels : target.values;
    for (let i = 0; i < count; i++) {
      const row = order[start + i]!;
      if (encoder) encoder.encode(texts![row]!, x, i * size);
      else x.set(dataset.features.subarray(row * size, (row + 1) * size), i * size);
      y.set(source.subarray(row * targetSize, (row + 1) * targetSize), i * targetSize);
    }
    return { x, y };
  };
  const train = rowsOf(0, trainRows);
  const scaling = fitted ? null : fitPreprocessing(spec.preprocessing.features, train.x, size);
  const inputShape = inputShapeOf(spec, dataset);
  const encoding = targetEncoding(spec, target);
  const toTensors = ({ x, y }: { x: Float32Array; y: Int32Array | Float32Array }): [tf.Tensor, tf.Tensor] => {
    if (scaling) applyPreprocessing(scaling, x);
    const count = x.length / size;
    return [tf.tensor(x, [count, ...inputShape]), targetTensor(y, count, target, encoding)];
  };
  const [trainX, trainY] = toTensors(train);
  const [valX, valY] = validationRows > 0 ? toTensors(rowsOf(trainRows, validationRows)) : [null, null];
  const [testX, testY] = testRows > 0 ? toTensors(rowsOf(trainRows + validationRows, testRows)) : [null, null];
  const preprocessing = fitted?.vocabulary ?? scaling;
  return { trainX, trainY, valX, valY, testX, testY, trainRows, validationRows, testRows, inputShape, preprocessing, ...(fitted ? { vocabularySummary: fitted.summary } : {}) };
}

function* rowIndices<T>(order: Int32Array, start: number, count: number, of: (row: number) => T): Generator<T> {
  for (let i = start; i < start + count; i++) yield of(order[i]!);
}

function targetTensor(y: Int32Array | Float32Array, rows: number, target: Dataset['target'], encoding: TargetEncoding): tf.Tensor {
  if (target.kind === 'values') return tf.tensor(y, [rows, ...target.shape], 'float32');
  const shape: number[] = target.steps ? [rows, target.steps] : [rows];
  switch (encoding) {
    case 'sparse':
      return tf.tensor(y, shape, 'int32');
    case 'binary':
      return tf.tensor(Float32Array.from(y), [rows, 1], 'float32');
    default:
      return tf.tidy(() => tf.oneHot(tf.tensor(y, shape, 'int32'), target.classes).toFloat());
  }
}

export function fitPreprocessing(method: 'none' | 'standardize' | 'minMax', x: Float32Array, size: number): FittedScaling | null {
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

export function applyPreprocessing(fitted: FittedScaling, x: Float32Array): void {
  const size = fitted.shift.length;
  for (let i = 0; i < x.length; i++) x[i] = (x[i]! - fitted.shift[i % size]!) / fitted.scale[i % size]!;
}

export function disposeSplit(split: Split): void {
  tf.dispose([split.trainX, split.trainY, ...[split.valX, split.valY, split.testX, split.testY].filter((t): t is tf.Tensor => t !== null)]);
}
