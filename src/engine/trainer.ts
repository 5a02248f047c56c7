import * as tf from '@tensorflow/tfjs';
import type { ResolvedJobSpec } from '../spec/job-spec.js';
import type { SelectedBackend } from './backend.js';
import { loadBuiltInDataset, type Dataset } from './datasets/loader.js';
import {
  TrainingAbortedError,
  TrainingSpecError,
  type MetricValues,
  type TrainingEventSink,
  type TrainingResult,
} from './events.js';
import { buildModel } from './model-builder.js';
import { createOptimizer } from './optimizers.js';
import { createRng, deriveSeed, permutation } from './random.js';

export interface TrainingOptions {
  backend: SelectedBackend;
  signal?: AbortSignal;
}

const SPLIT_STREAM = 1;
const SHUFFLE_STREAM = 2;
// Validation runs in chunks so a large validation set never needs one huge activation tensor.
const EVAL_BATCH = 1024;

interface Split {
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
  const rows = Math.min(spec.dataset.limit ?? dataset.rows, dataset.rows);
  const validationRows = Math.floor(rows * spec.validationSplit);
  const trainRows = rows - validationRows;
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

function lossOf(output: tf.Tensor, labels: tf.Tensor, probabilities: boolean): tf.Scalar {
  if (!probabilities) return tf.losses.softmaxCrossEntropy(labels, output) as tf.Scalar;
  const clipped = tf.clipByValue(output, 1e-7, 1 - 1e-7);
  return tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.log(clipped)), -1))) as tf.Scalar;
}

function correctCount(output: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.sum(tf.cast(tf.equal(tf.argMax(output, -1), tf.argMax(labels, -1)), 'float32'));
}

/**
 * Trains one job spec to the end and reports through `sink`. Pure of I/O: the caller decides
 * where events go. Checks `signal` between batches, so an abort lands within one batch.
 */
export async function runTraining(
  spec: ResolvedJobSpec,
  sink: TrainingEventSink,
  options: TrainingOptions,
): Promise<TrainingResult> {
  const started = performance.now();
  const dataset = loadBuiltInDataset(spec.dataset.name);
  const split = splitDataset(dataset, spec);
  const { model, outputsProbabilities } = buildModel(spec, dataset.featureSize);
  const optimizer = createOptimizer(spec.optimizer, spec.learningRate);
  const stepsPerEpoch = Math.ceil(split.trainRows / spec.batchSize);
  const shuffleRng = createRng(deriveSeed(spec.seed, SHUFFLE_STREAM));

  sink.emit({
    type: 'started',
    backend: options.backend.name,
    device: options.backend.device,
    trainRows: split.trainRows,
    validationRows: split.validationRows,
    stepsPerEpoch,
    totalSteps: stepsPerEpoch * spec.epochs,
    parameters: model.countParams(),
  });

  let step = 0;
  let finalMetrics: MetricValues = {};
  // The batch-metric window spans epoch boundaries, so records land on global multiples of logEveryBatches.
  const windowLoss = new RunningSum();
  const windowCorrect = new RunningSum();
  let windowRows = 0;
  try {
    for (let epoch = 1; epoch <= spec.epochs; epoch++) {
      const epochStart = performance.now();
      const order = spec.shuffle ? permutation(split.trainRows, shuffleRng) : identityOrder(split.trainRows);
      const epochLoss = new RunningSum();
      const epochCorrect = new RunningSum();
      let loss = 0;
      let correct = 0;

      try {
        for (let batch = 0; batch < stepsPerEpoch; batch++) {
          if (options.signal?.aborted) throw new TrainingAbortedError(String(options.signal.reason ?? 'aborted'));
          const begin = batch * spec.batchSize;
          const rows = Math.min(spec.batchSize, split.trainRows - begin);
          const [batchLoss, batchCorrect] = trainStep(split, order.subarray(begin, begin + rows), model, optimizer, outputsProbabilities);
          // Losses are batch means; weighting by rows makes the last, smaller batch count fairly.
          const weightedLoss = tf.mul(batchLoss, rows);
          epochLoss.add(weightedLoss);
          windowLoss.add(weightedLoss);
          epochCorrect.add(batchCorrect);
          windowCorrect.add(batchCorrect);
          tf.dispose([batchLoss, batchCorrect, weightedLoss]);
          step += 1;
          windowRows += rows;

          if (spec.logEveryBatches > 0 && step % spec.logEveryBatches === 0) {
            const lossSum = await windowLoss.take();
            const correctSum = await windowCorrect.take();
            assertFinite(lossSum, epoch, step, spec);
            sink.emit({
              type: 'batchMetrics',
              epoch,
              step,
              values: { loss: lossSum / windowRows, accuracy: correctSum / windowRows },
            });
            windowRows = 0;
          }
          // Lets the host process see an abort message between batches.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        loss = await epochLoss.take();
        correct = await epochCorrect.take();
      } finally {
        tf.dispose([epochLoss.tensor, epochCorrect.tensor]);
      }
      // Throughput counts training only; validation time is in durationMs.
      const trainMs = performance.now() - epochStart;
      assertFinite(loss, epoch, step, spec);
      const values: MetricValues = {
        loss: loss / split.trainRows,
        accuracy: correct / split.trainRows,
        learning_rate: spec.learningRate,
      };
      if (split.valX && split.valY) {
        const validation = await evaluate(model, split.valX, split.valY, outputsProbabilities);
        values.val_loss = validation.loss;
        values.val_accuracy = validation.accuracy;
      }
      const durationMs = performance.now() - epochStart;
      sink.emit({
        type: 'epochMetrics',
        epoch,
        step,
        values,
        durationMs,
        samplesPerSecond: (split.trainRows / trainMs) * 1000,
      });
      finalMetrics = values;
    }
  } finally {
    tf.dispose([windowLoss.tensor, windowCorrect.tensor]);
    tf.dispose([split.trainX, split.trainY, ...(split.valX ? [split.valX] : []), ...(split.valY ? [split.valY] : [])]);
    optimizer.dispose();
    model.dispose();
  }
  return { epochs: spec.epochs, steps: step, finalMetrics, durationMs: performance.now() - started };
}

function trainStep(
  split: Split,
  rows: Int32Array,
  model: tf.Sequential,
  optimizer: tf.Optimizer,
  outputsProbabilities: boolean,
): [tf.Scalar, tf.Scalar] {
  return tf.tidy(() => {
    const indices = tf.tensor1d(rows, 'int32');
    const x = tf.gather(split.trainX, indices);
    const y = tf.gather(split.trainY, indices);
    let correct: tf.Scalar | undefined;
    const loss = optimizer.minimize(() => {
      const output = model.apply(x, { training: true }) as tf.Tensor;
      correct = tf.keep(correctCount(output, y));
      return lossOf(output, y, outputsProbabilities);
    }, true);
    if (!loss || !correct) throw new Error('optimizer.minimize returned no loss');
    return [loss, correct];
  });
}

async function evaluate(
  model: tf.Sequential,
  x: tf.Tensor2D,
  y: tf.Tensor2D,
  outputsProbabilities: boolean,
): Promise<{ loss: number; accuracy: number }> {
  const rows = x.shape[0];
  let lossSum = 0;
  let correctSum = 0;
  for (let begin = 0; begin < rows; begin += EVAL_BATCH) {
    const size = Math.min(EVAL_BATCH, rows - begin);
    const [loss, correct] = tf.tidy(() => {
      const xb = x.slice([begin, 0], [size, -1]);
      const yb = y.slice([begin, 0], [size, -1]);
      const output = model.apply(xb, { training: false }) as tf.Tensor;
      return [tf.mul(lossOf(output, yb, outputsProbabilities), size), correctCount(output, yb)];
    });
    const [lossValue, correctValue] = await readScalars(loss!, correct!);
    tf.dispose([loss!, correct!]);
    lossSum += lossValue!;
    correctSum += correctValue!;
  }
  return { loss: lossSum / rows, accuracy: correctSum / rows };
}

/** A scalar accumulated on the backend, so metrics cost no device-to-host read per batch. */
class RunningSum {
  private total: tf.Scalar = tf.scalar(0);

  add(value: tf.Tensor): void {
    const next = tf.add(this.total, value) as tf.Scalar;
    this.total.dispose();
    this.total = next;
  }

  /** Reads the sum and starts again from zero. */
  async take(): Promise<number> {
    const [value] = await readScalars(this.total);
    this.total.dispose();
    this.total = tf.scalar(0);
    return value!;
  }

  get tensor(): tf.Scalar {
    return this.total;
  }
}

async function readScalars(...tensors: tf.Tensor[]): Promise<number[]> {
  const values = await Promise.all(tensors.map((t) => t.data()));
  return values.map((v) => v[0]!);
}

function assertFinite(loss: number, epoch: number, step: number, spec: ResolvedJobSpec): void {
  if (Number.isFinite(loss)) return;
  throw new TrainingSpecError(
    `the loss became ${loss} at epoch ${epoch} (step ${step}): training diverged. ` +
      `Lower learningRate (now ${spec.learningRate}), e.g. to ${spec.learningRate / 10}, or use a smaller model or batch size`,
  );
}

function identityOrder(n: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order;
}
