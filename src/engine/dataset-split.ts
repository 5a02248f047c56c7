import * as tf from '@tensorflow/tfjs';
import { describeDataset } from '../spec/dataset-spec.js';
import { type ResolvedJobSpec } from '../spec/job-spec.js';
import { runShapeOf } from '../spec/run-shape.js';
import { textOptionsSchema } from '../spec/text-spec.js';
import { outputLayerIndex } from '../spec/weight-shapes.js';
import type { Dataset } from './datasets/loader.js';
import { TrainingSpecError } from './events.js';
import type { StreamedSplit } from './streamed-split.js';
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
  /** [rows, ...inputShape]; null when the rows are streamed. */
  trainX: tf.Tensor | null;
  /** Targets as the loss takes them (see `targetEncoding`); null when the rows are streamed. */
  trainY: tf.Tensor | null;
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
  /** Set when the features stay on disk: every x (and y) tensor comes from here, by position in the split's order. */
  streamed: StreamedSplit | null;
}

/** A split made by splitDataset: every row in tensors. */
export type InMemorySplit = Split & { trainX: tf.Tensor; trainY: tf.Tensor; streamed: null };

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
 * The rows in split order (splitOrder) as tensors. Scaling is fitted on the training rows only,
 * so nothing of the held-out rows leaks into training.
 */
export function splitDataset(dataset: Dataset, spec: ResolvedJobSpec): InMemorySplit {
  if (dataset.featureFile) throw new Error(`data set ${dataset.name} streams its features from ${dataset.featureFile}: split it with splitStreamed`);
  const { order, trainRows, validationRows, testRows } = splitOrder(dataset, spec);
  const target = dataset.target;
  // A text set's vocabulary comes from its training rows only, like scaling below.
  const texts = dataset.texts;
  const fitted = texts ? fitVocabulary(rowIndices(order, 0, trainRows, (row) => texts[row]!), textOptionsOf(spec)) : null;
  const encoder = fitted ? new TokenEncoder(fitted.vocabulary) : null;
  const size = fitted ? fitted.vocabulary.text.length : dataset.featureSize;
  const rowsOf = (start: number, count: number): { x: Float32Array; y: Int32Array | Float32Array } => {
    const x = new Float32Array(count * size);
    for (let i = 0; i < count; i++) {
      const row = order[start + i]!;
      if (encoder) encoder.encode(texts![row]!, x, i * size);
      else x.set(dataset.features.subarray(row * size, (row + 1) * size), i * size);
    }
    return { x, y: targetRows(target, order.subarray(start, start + count)) };
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
  return {
    trainX,
    trainY,
    valX,
    valY,
    testX,
    testY,
    trainRows,
    validationRows,
    testRows,
    inputShape,
    preprocessing,
    streamed: null,
    ...(fitted ? { vocabularySummary: fitted.summary } : {}),
  };
}

/**
 * The data set's rows in split order, [train | validation | test]: a seeded shuffle (unless
 * spec.shuffle is false) and optional row limit. A data set's fixed test set is taken out first
 * with its own seed. The streamed and the in-memory split share it, so both train on the same rows.
 */
export function splitOrder(dataset: Pick<Dataset, 'rows' | 'heldOut'>, spec: ResolvedJobSpec): { order: Int32Array; trainRows: number; validationRows: number; testRows: number } {
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
  return { order, trainRows, validationRows, testRows };
}

/** The targets of data set rows `rows`, as the data set stores them (class indices or values). */
export function targetRows(target: Dataset['target'], rows: Int32Array): Int32Array | Float32Array {
  const size = target.kind === 'classes' ? (target.steps ?? 1) : target.shape.reduce((a, b) => a * b, 1);
  const source = target.kind === 'classes' ? target.labels : target.values;
  const y = target.kind === 'classes' ? new Int32Array(rows.length * size) : new Float32Array(rows.length * size);
  rows.forEach((row, i) => y.set(source.subarray(row * size, (row + 1) * size), i * size));
  return y;
}

function* rowIndices<T>(order: Int32Array, start: number, count: number, of: (row: number) => T): Generator<T> {
  for (let i = start; i < start + count; i++) yield of(order[i]!);
}

export function targetTensor(y: Int32Array | Float32Array, rows: number, target: Dataset['target'], encoding: TargetEncoding): tf.Tensor {
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
  const fit = new ScalingFit(method, size);
  for (let pass = 0; pass < fit.passes; pass++) fit.add(pass, x);
  return fit.result();
}

/**
 * Scaling fitted chunk by chunk, so a streamed split fits it without holding its training rows:
 * `passes` passes over the same rows in the same order (standardize needs the mean before the
 * deviations). Each feature's sums take the rows in order, in doubles, however they are chunked,
 * so the result is bit for bit the in-memory fit's.
 */
export class ScalingFit {
  readonly passes: number;
  private readonly a: Float64Array;
  private readonly b: Float64Array;
  private rows = 0;

  constructor(
    private readonly method: 'standardize' | 'minMax',
    private readonly size: number,
  ) {
    this.passes = method === 'standardize' ? 2 : 1;
    this.a = new Float64Array(size).fill(method === 'minMax' ? Number.POSITIVE_INFINITY : 0);
    this.b = new Float64Array(size).fill(method === 'minMax' ? Number.NEGATIVE_INFINITY : 0);
  }

  add(pass: number, x: Float32Array): void {
    const { a, b, size } = this;
    const rows = x.length / size;
    if (pass === 0) this.rows += rows;
    for (let r = 0; r < rows; r++) {
      for (let f = 0; f < size; f++) {
        const value = x[r * size + f]!;
        if (this.method === 'minMax') {
          a[f] = Math.min(a[f]!, value);
          b[f] = Math.max(b[f]!, value);
        } else if (pass === 0) a[f]! += value;
        else b[f]! += (value - a[f]! / this.rows) ** 2;
      }
    }
  }

  result(): FittedScaling {
    const shift = Array.from(this.a, (a) => (this.method === 'standardize' ? a / this.rows : a));
    // A constant feature stays 0 instead of dividing by 0.
    const scale = Array.from(this.b, (b, f) => (this.method === 'standardize' ? Math.sqrt(b / this.rows) : b - this.a[f]!) || 1);
    return { features: this.method, shift, scale };
  }
}

export function applyPreprocessing(fitted: FittedScaling, x: Float32Array): void {
  const size = fitted.shift.length;
  for (let i = 0; i < x.length; i++) x[i] = (x[i]! - fitted.shift[i % size]!) / fitted.scale[i % size]!;
}

/** Frees the tensors; a streamed split's file is closed by its owner (`split.streamed.close()`). */
export function disposeSplit(split: Split): void {
  tf.dispose([split.trainX, split.trainY, split.valX, split.valY, split.testX, split.testY].filter((t): t is tf.Tensor => t !== null));
}

/** An in-memory training tensor, for what needs it whole (training threads, augmentation); a streamed split has none. */
export function inMemoryRows(split: Split, tensor: 'trainX' | 'trainY', what: string): tf.Tensor {
  const found = split[tensor];
  if (!found) throw new TrainingSpecError(`${what} needs the training rows in memory, and this run streams them from ${split.streamed?.from ?? 'disk'}`);
  return found;
}
