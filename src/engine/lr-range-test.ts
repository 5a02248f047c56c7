import * as tf from '@tensorflow/tfjs';
import type { ResolvedJobSpec } from '../spec/job-spec.js';
import { resolveOptimizer } from '../spec/optimizer-spec.js';
import type { Split } from './dataset-split.js';
import { TrainingAbortedError, TrainingSpecError, type TrainingEventSink, type TrainingResult } from './events.js';
import { buildObjective, type BuiltModel } from './model-builder.js';
import { createOptimizer } from './optimizers/create-optimizer.js';
import { deriveSeed, Mulberry32, permutation } from './random.js';
import { computeGradients, readScalars } from './train-step.js';
import type { TrainingOptions } from './trainer.js';

export interface RangePoint {
  learningRate: number;
  loss: number;
  /** Exponential moving average of the loss (β = 0.98), bias-corrected. */
  smoothedLoss: number;
}

const SMOOTHING = 0.98;
// Stop once the smoothed loss exceeds this multiple of its best: the rate is past useful.
const BLOW_UP = 4;
const RANGE_STREAM = 4;

/** η_i = min · (max/min)^(i/(n−1)), i = 0 … n−1. */
export function rangeRate(min: number, max: number, i: number, n: number): number {
  return min * (max / min) ** (i / (n - 1));
}

/**
 * The rate where the smoothed loss falls fastest per unit of log η (the steepest point of the
 * descent), and the rate of the lowest smoothed loss. Smith (2017) and fast.ai pick from this curve.
 * The first tenth of the sweep is skipped (the moving average is still settling there) and slopes
 * are taken over a span of n/20 points, so one noisy batch cannot win.
 */
export function suggestLearningRate(points: RangePoint[]): { suggested: number; minLoss: number } {
  if (points.length < 3) throw new TrainingSpecError('the range test stopped before it had 3 points: lower lrRangeTest.minLearningRate');
  let minIndex = 0;
  points.forEach((point, i) => {
    if (point.smoothedLoss < points[minIndex]!.smoothedLoss) minIndex = i;
  });
  const minLoss = points[minIndex]!.learningRate;
  const skip = Math.max(1, Math.floor(points.length / 10));
  const span = Math.max(1, Math.floor(points.length / 20));
  let steepest = -1;
  let steepestSlope = 0;
  for (let i = skip + span; i <= minIndex; i++) {
    const from = points[i - span]!;
    const to = points[i]!;
    const slope = (to.smoothedLoss - from.smoothedLoss) / Math.log(to.learningRate / from.learningRate);
    if (slope < steepestSlope) {
      steepestSlope = slope;
      steepest = i - Math.floor(span / 2);
    }
  }
  // No descent after the warm-up of the average: the usual rule of thumb, a tenth of the best.
  return { suggested: steepest >= 0 ? points[steepest]!.learningRate : minLoss / 10, minLoss };
}

/** Sweeps the rate exponentially, one batch per rate, and records loss against rate. */
export async function runLrRangeTest(
  spec: ResolvedJobSpec,
  trained: BuiltModel & { split: Split },
  sink: TrainingEventSink,
  options: TrainingOptions,
): Promise<TrainingResult> {
  const started = performance.now();
  const test = spec.lrRangeTest!;
  if (Array.isArray(spec.optimizer)) throw new TrainingSpecError('an lrRangeTest uses one optimizer, not phases');
  const { model, training, heads, split, clock } = trained;
  const objective = buildObjective(spec, trained);
  const optimizer = createOptimizer(resolveOptimizer(spec.optimizer));
  const variables = training.trainableWeights.map((weight) => weight.read() as tf.Variable);
  const rng = new Mulberry32(deriveSeed(spec.seed, RANGE_STREAM));
  const stepsPerEpoch = Math.ceil(split.trainRows / spec.batchSize);
  sink.emit({
    type: 'started',
    backend: options.backend.name,
    device: options.backend.device,
    trainRows: split.trainRows,
    validationRows: split.validationRows,
    testRows: split.testRows,
    stepsPerEpoch,
    totalSteps: test.steps,
    parameters: model.countParams(),
  });

  const points: RangePoint[] = [];
  let order = permutation(split.trainRows, rng.next);
  let cursor = 0;
  let average = 0;
  let best = Number.POSITIVE_INFINITY;
  let stoppedEarly = false;
  try {
    for (let i = 0; i < test.steps; i++) {
      // A range test is short and has nothing worth resuming: any abort just stops it.
      if (options.signal?.aborted) throw new TrainingAbortedError(String(options.signal.reason ?? 'aborted'));
      if (cursor >= split.trainRows) {
        order = permutation(split.trainRows, rng.next);
        cursor = 0;
      }
      const rows = order.subarray(cursor, Math.min(cursor + spec.batchSize, split.trainRows));
      cursor += rows.length;
      const learningRate = rangeRate(test.minLearningRate, test.maxLearningRate, i, test.steps);
      const indices = tf.tensor1d(rows, 'int32');
      const x = tf.gather(split.trainX, indices);
      const y = tf.gather(split.trainY, indices);
      clock.step = i + 1;
      const { loss, correct, entropy, headLosses, gradients } = computeGradients(training, variables, x, y, objective, heads.map((head) => head.weight));
      optimizer.apply(variables, gradients, learningRate);
      const [lossValue] = await readScalars(loss);
      tf.dispose([indices, x, y, loss, correct, entropy, ...headLosses, ...gradients]);

      if (!Number.isFinite(lossValue)) {
        stoppedEarly = true;
        break;
      }
      average = SMOOTHING * average + (1 - SMOOTHING) * lossValue!;
      const smoothedLoss = average / (1 - SMOOTHING ** (i + 1));
      points.push({ learningRate, loss: lossValue!, smoothedLoss });
      sink.emit({ type: 'batchMetrics', epoch: 1, step: i + 1, values: { learning_rate: learningRate, loss: lossValue!, smoothed_loss: smoothedLoss } });
      best = Math.min(best, smoothedLoss);
      if (i >= 5 && smoothedLoss > BLOW_UP * best) {
        stoppedEarly = true;
        break;
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    optimizer.dispose();
  }
  const { suggested, minLoss } = suggestLearningRate(points);
  sink.emit({ type: 'lrRangeTest', points: points.length, stoppedEarly, suggestedLearningRate: suggested, minLossLearningRate: minLoss });
  return {
    epochs: 0,
    steps: points.length,
    finalMetrics: { suggested_learning_rate: suggested, min_loss_learning_rate: minLoss },
    durationMs: performance.now() - started,
  };
}
