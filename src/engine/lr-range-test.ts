import * as tf from '@tensorflow/tfjs';
import type { ResolvedJobSpec } from '../spec/job-spec.js';
import { resolveOptimizer, type OptimizerConfig } from '../spec/optimizer-spec.js';
import type { Split } from './dataset-split.js';
import { TrainingAbortedError, TrainingSpecError, type TrainingEventSink, type TrainingResult } from './events.js';
import { clipByGlobalNorm } from './gradient-transforms.js';
import { applyMaxNorm, maxNormConstraints, type MaxNormConstraint } from './max-norm.js';
import { buildObjective, type BuiltModel } from './model-builder.js';
import type { Objective } from './objective.js';
import { createOptimizer } from './optimizers/create-optimizer.js';
import { deriveSeed, Mulberry32, permutation } from './random.js';
import { trainingBatch } from './split-rows.js';
import { streamingOf } from './streamed-split.js';
import { computeGradients, readScalars } from './train-step.js';
import type { TrainingOptions } from './trainer.js';

export interface RangePoint {
  learningRate: number;
  loss: number;
  /** The loss averaged over a window centred on this point (no lag, unlike a running average). */
  smoothedLoss: number;
}

/** A short run from the starting weights at one candidate rate. */
export interface RangeTrial {
  learningRate: number;
  /** Mean loss of the trial's last quarter of steps. */
  loss: number;
  /** Whether that is at least FALL below the starting loss (and finite). */
  fell: boolean;
}

// β of the running average the live `smoothed_loss` metric shows (fast.ai's), and when the sweep stops: once it exceeds BLOW_UP × its best.
const SMOOTHING = 0.98;
const BLOW_UP = 4;
const RANGE_STREAM = 4;
const TRIAL_STREAM = 5;
const CANDIDATES = 5;
/** A trial must end this fraction below the starting loss to count as training. */
export const FALL = 0.1;

/** η_i = min · (max/min)^(i/(n−1)), i = 0 … n−1. */
export function rangeRate(min: number, max: number, i: number, n: number): number {
  return min * (max / min) ** (i / (n - 1));
}

/** Rates swept when the spec does not say: one epoch's steps, so a large data set shows each batch once, within [100, 1000]. */
export function defaultRangeSteps(stepsPerEpoch: number): number {
  return Math.min(1000, Math.max(100, stepsPerEpoch));
}

/** Steps of each trial: an epoch's, within [10, 50]: enough for the loss to move, few enough for five trials. */
export function trialSteps(stepsPerEpoch: number): number {
  return Math.min(50, Math.max(10, stepsPerEpoch));
}

/** Each loss averaged over the points within `half` on either side (fewer at the ends). */
export function centredAverage(losses: number[], half: number): number[] {
  return losses.map((_, i) => {
    const from = Math.max(0, i - half);
    const to = Math.min(losses.length - 1, i + half);
    let sum = 0;
    for (let k = from; k <= to; k++) sum += losses[k]!;
    return sum / (to - from + 1);
  });
}

/**
 * The rates worth a trial, from the sweep's smoothed curve: between the point of steepest descent
 * (per unit of log η) and the point of lowest loss, the highest rate that still descended (Smith
 * 2017). In a sweep the loss at a rate also carries the steps taken at every lower rate, so on a
 * small problem the steepest point comes too early and the lowest point too late; the trials
 * decide between them. A sweep without descent gives rates below the lowest point.
 */
export function rangeCandidates(points: RangePoint[]): { candidates: number[]; minLoss: number; steepest: number | null } {
  if (points.length < 3) throw new TrainingSpecError('the range test stopped before it had 3 points: lower lrRangeTest.minLearningRate');
  let minIndex = 0;
  points.forEach((point, i) => {
    if (point.smoothedLoss < points[minIndex]!.smoothedLoss) minIndex = i;
  });
  const minLoss = points[minIndex]!.learningRate;
  let steepest: number | null = null;
  let steepestSlope = 0;
  for (let i = 1; i <= minIndex; i++) {
    const slope = (points[i]!.smoothedLoss - points[i - 1]!.smoothedLoss) / Math.log(points[i]!.learningRate / points[i - 1]!.learningRate);
    if (slope < steepestSlope) {
      steepestSlope = slope;
      steepest = points[i]!.learningRate;
    }
  }
  const low = steepest !== null && steepest < minLoss ? steepest : minLoss / 100;
  const candidates = Array.from({ length: CANDIDATES }, (_, k) => minLoss * (low / minLoss) ** (k / (CANDIDATES - 1)));
  return { candidates, minLoss, steepest };
}

/**
 * The learning-rate range test: sweeps the rate exponentially, one batch per rate, and records
 * loss against rate; then tries the candidate rates (rangeCandidates) for a few steps each from the
 * starting weights, and suggests the one whose loss ends lowest, provided it fell at least FALL below
 * where it started. With none that does, the run fails and says so: a suggestion must train.
 */
export async function runLrRangeTest(
  spec: ResolvedJobSpec,
  trained: BuiltModel & { split: Split },
  sink: TrainingEventSink,
  options: TrainingOptions,
): Promise<TrainingResult> {
  const started = performance.now();
  const test = spec.lrRangeTest!;
  if (Array.isArray(spec.optimizer)) throw new TrainingSpecError('an lrRangeTest uses one optimizer, not phases');
  const optimizer = resolveOptimizer(spec.optimizer);
  const { model, training, heads, split, clock } = trained;
  const objective = buildObjective(spec, trained);
  const variables = training.trainableWeights.map((weight) => weight.read() as tf.Variable);
  const stepsPerEpoch = Math.ceil(split.trainRows / spec.batchSize);
  const steps = test.steps ?? defaultRangeSteps(stepsPerEpoch);
  sink.emit({
    type: 'started',
    backend: options.backend.name,
    device: options.backend.device,
    trainRows: split.trainRows,
    validationRows: split.validationRows,
    testRows: split.testRows,
    stepsPerEpoch,
    totalSteps: steps,
    parameters: model.countParams(),
    ...streamingOf(split),
  });

  const runner = new RangeRunner(spec, optimizer, training, variables, objective, split, clock, heads.map((head) => head.weight), options.signal);
  // Every trial starts where the sweep did: every weight, running statistics included.
  const start = training.weights.map((weight) => weight.read().clone());
  try {
    const points: RangePoint[] = [];
    const raw: number[] = [];
    let average = 0;
    let best = Number.POSITIVE_INFINITY;
    let stoppedEarly = false;
    await runner.run(deriveSeed(spec.seed, RANGE_STREAM), steps, (i) => rangeRate(test.minLearningRate, test.maxLearningRate, i, steps), (i, learningRate, loss) => {
      if (!Number.isFinite(loss)) {
        stoppedEarly = true;
        return false;
      }
      raw.push(loss);
      points.push({ learningRate, loss, smoothedLoss: loss });
      average = SMOOTHING * average + (1 - SMOOTHING) * loss;
      const smoothed = average / (1 - SMOOTHING ** (i + 1));
      sink.emit({ type: 'batchMetrics', epoch: 1, step: i + 1, values: { learning_rate: learningRate, loss, smoothed_loss: smoothed } });
      best = Math.min(best, smoothed);
      if (i >= 5 && smoothed > BLOW_UP * best) {
        stoppedEarly = true;
        return false;
      }
      return true;
    });
    centredAverage(raw, Math.max(2, Math.round(steps / 40))).forEach((smoothed, i) => (points[i]!.smoothedLoss = smoothed));
    const { candidates, minLoss } = rangeCandidates(points);

    const length = trialSteps(stepsPerEpoch);
    const trials: RangeTrial[] = [];
    for (const learningRate of candidates) {
      training.weights.forEach((weight, i) => (weight.read() as tf.Variable).assign(start[i]!));
      const losses: number[] = [];
      await runner.run(deriveSeed(spec.seed, TRIAL_STREAM), length, () => learningRate, (_i, _rate, loss) => {
        losses.push(loss);
        return Number.isFinite(loss);
      });
      const tail = losses.slice(-Math.max(1, Math.ceil(length / 4)));
      const loss = losses.length === length ? tail.reduce((a, b) => a + b, 0) / tail.length : Number.POSITIVE_INFINITY;
      trials.push({ learningRate, loss, fell: Number.isFinite(loss) && loss < (1 - FALL) * losses[0]! });
    }
    const falling = trials.filter((trial) => trial.fell);
    if (falling.length === 0) {
      throw new TrainingSpecError(
        `no rate the sweep pointed to (${candidates.map((rate) => Number(rate.toPrecision(3))).join(', ')}) made the loss fall ${FALL * 100} % in ${length} steps: ` +
          'widen lrRangeTest.minLearningRate … maxLearningRate, or check the data and model',
      );
    }
    const suggested = falling.reduce((a, b) => (b.loss < a.loss ? b : a)).learningRate;
    sink.emit({ type: 'lrRangeTest', points: points.length, stoppedEarly, suggestedLearningRate: suggested, minLossLearningRate: minLoss, trials });
    return {
      epochs: 0,
      steps: points.length + trials.length * length,
      finalMetrics: { suggested_learning_rate: suggested, min_loss_learning_rate: minLoss },
      durationMs: performance.now() - started,
    };
  } finally {
    tf.dispose(start);
  }
}

/** Optimizer steps on batches drawn from a seeded order, at rates chosen per step; what the sweep and the trials share. */
class RangeRunner {
  private readonly maxNorms: MaxNormConstraint[];

  constructor(
    private readonly spec: ResolvedJobSpec,
    private readonly optimizerConfig: OptimizerConfig,
    private readonly training: tf.LayersModel,
    private readonly variables: tf.Variable[],
    private readonly objective: Objective,
    private readonly split: Split,
    private readonly clock: { step: number },
    private readonly headWeights: number[],
    private readonly signal: AbortSignal | undefined,
  ) {
    this.maxNorms = maxNormConstraints(spec, training);
  }

  /** `steps` steps with a fresh optimizer; `onStep` returns false to stop early. */
  async run(seed: number, steps: number, rateAt: (i: number) => number, onStep: (i: number, rate: number, loss: number) => boolean): Promise<void> {
    const { spec, split } = this;
    const rng = new Mulberry32(seed);
    const orderOf = () => (spec.shuffle ? permutation(split.trainRows, rng.next) : Int32Array.from({ length: split.trainRows }, (_, i) => i));
    const optimizer = createOptimizer(this.optimizerConfig);
    let order = orderOf();
    let cursor = 0;
    try {
      for (let i = 0; i < steps; i++) {
        // A range test is short and has nothing worth resuming: any abort just stops it.
        if (this.signal?.aborted) throw new TrainingAbortedError(String(this.signal.reason ?? 'aborted'));
        if (cursor >= split.trainRows) {
          order = orderOf();
          cursor = 0;
        }
        const rows = order.subarray(cursor, Math.min(cursor + spec.batchSize, split.trainRows));
        cursor += rows.length;
        const rate = rateAt(i);
        const next = cursor < split.trainRows ? order.subarray(cursor, Math.min(cursor + spec.batchSize, split.trainRows)) : undefined;
        const { x, y } = await trainingBatch(split, rows, next);
        this.clock.step = i + 1;
        const { loss, correct, entropy, headLosses, gradients } = computeGradients(this.training, this.variables, x, y, this.objective, this.headWeights);
        const applied = spec.clipNorm !== undefined ? clipByGlobalNorm(gradients, spec.clipNorm) : gradients;
        optimizer.apply(this.variables, applied, rate);
        applyMaxNorm(this.maxNorms);
        const [lossValue] = await readScalars(loss);
        tf.dispose([x, y, loss, correct, entropy, ...headLosses, ...gradients, ...(applied === gradients ? [] : applied)]);
        if (!onStep(i, rate, lossValue!)) break;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      optimizer.dispose();
    }
  }
}
