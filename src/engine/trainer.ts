import * as tf from '@tensorflow/tfjs';
import type { ResolvedJobSpec } from '../spec/job-spec.js';
import type { SelectedBackend } from './backend.js';
import { disposeSplit, splitDataset, type Split } from './dataset-split.js';
import { loadBuiltInDataset } from './datasets/loader.js';
import {
  TrainingAbortedError,
  TrainingSpecError,
  type MetricValues,
  type TrainingEventSink,
  type TrainingResult,
} from './events.js';
import { addGradientNoise, clipByGlobalNorm } from './gradient-transforms.js';
import { runLrRangeTest } from './lr-range-test.js';
import { buildModel } from './model-builder.js';
import { createOptimizer } from './optimizers/create-optimizer.js';
import type { OptimizerState, TrainingOptimizer } from './optimizers/training-optimizer.js';
import { deriveSeed, Mulberry32, permutation } from './random.js';
import { learningRateAt } from './schedules.js';
import { computeGradients, evaluate, RunningSum } from './train-step.js';
import { phaseForEpoch, planPhases, type PlannedPhase } from './training-plan.js';

export interface TrainingOptions {
  backend: SelectedBackend;
  signal?: AbortSignal;
}

const SHUFFLE_STREAM = 2;
const NOISE_STREAM = 3;

/**
 * Trains one job spec to the end and reports through `sink`. Pure of I/O: the caller decides
 * where events go. Checks `signal` between batches, so an abort lands within one batch.
 */
export async function runTraining(spec: ResolvedJobSpec, sink: TrainingEventSink, options: TrainingOptions): Promise<TrainingResult> {
  const dataset = loadBuiltInDataset(spec.dataset.name);
  const split = splitDataset(dataset, spec);
  const { model, outputsProbabilities } = buildModel(spec, dataset.featureSize);
  try {
    if (spec.task === 'lrRangeTest') {
      return await runLrRangeTest(spec, { model, outputsProbabilities, split }, sink, options);
    }
    const run = new TrainingRun(spec, model, outputsProbabilities, split, sink, options);
    try {
      return await run.run();
    } finally {
      run.dispose();
    }
  } finally {
    disposeSplit(split);
    model.dispose();
  }
}

/** What divergence recovery rolls back to: the state at the end of a good epoch. */
interface Snapshot {
  epoch: number;
  step: number;
  phase: number;
  weights: tf.Tensor[];
  optimizer: OptimizerState;
  shuffleState: number;
  bestLoss: number;
}

type EpochOutcome = { diverged: false; metrics: MetricValues } | { diverged: true; step: number; loss: number; reason: string };

class TrainingRun {
  private readonly phases: PlannedPhase[];
  private readonly variables: tf.Variable[];
  private readonly stepsPerEpoch: number;
  private readonly totalSteps: number;
  private readonly shuffle: Mulberry32;
  private readonly noiseSeed: number;
  private phase: PlannedPhase;
  private optimizer: TrainingOptimizer;
  private step = 0;
  /** Divergence recovery halves this; it multiplies the scheduled rate. */
  private rateScale = 1;
  private retries = 0;
  private bestLoss = Number.POSITIVE_INFINITY;
  private snapshot: Snapshot | null = null;
  private readonly started = performance.now();

  constructor(
    private readonly spec: ResolvedJobSpec,
    private readonly model: tf.Sequential,
    private readonly outputsProbabilities: boolean,
    private readonly split: Split,
    private readonly sink: TrainingEventSink,
    private readonly options: TrainingOptions,
  ) {
    this.phases = planPhases(spec);
    this.phase = this.phases[0]!;
    this.optimizer = createOptimizer(this.phase.optimizer);
    // LayerVariable.read() is the tf.Variable itself, so updates land in the model.
    this.variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
    this.stepsPerEpoch = Math.ceil(split.trainRows / spec.batchSize);
    this.totalSteps = this.stepsPerEpoch * spec.epochs;
    this.shuffle = new Mulberry32(deriveSeed(spec.seed, SHUFFLE_STREAM));
    this.noiseSeed = deriveSeed(spec.seed, NOISE_STREAM);
  }

  async run(): Promise<TrainingResult> {
    this.sink.emit({
      type: 'started',
      backend: this.options.backend.name,
      device: this.options.backend.device,
      trainRows: this.split.trainRows,
      validationRows: this.split.validationRows,
      stepsPerEpoch: this.stepsPerEpoch,
      totalSteps: this.totalSteps,
      parameters: this.model.countParams(),
    });
    if (this.phases.length > 1) this.announcePhase();
    if (this.spec.divergence) this.takeSnapshot(0);

    let finalMetrics: MetricValues = {};
    let epoch = 1;
    while (epoch <= this.spec.epochs) {
      this.enterPhaseFor(epoch);
      const outcome = await this.runEpoch(epoch);
      if (outcome.diverged) {
        epoch = this.recover(epoch, outcome) + 1;
        continue;
      }
      finalMetrics = outcome.metrics;
      if (this.spec.divergence) this.takeSnapshot(epoch);
      epoch += 1;
    }
    return { epochs: this.spec.epochs, steps: this.step, finalMetrics, durationMs: performance.now() - this.started };
  }

  dispose(): void {
    this.optimizer.dispose();
    this.disposeSnapshot();
  }

  private learningRate(step: number, epoch: number): number {
    return learningRateAt(this.phase.schedule, { step, epoch, totalSteps: this.totalSteps }) * this.rateScale;
  }

  private enterPhaseFor(epoch: number): void {
    const next = phaseForEpoch(this.phases, epoch);
    if (next.index === this.phase.index) return;
    // A new phase starts from fresh optimizer state (TECHNIQUES.md 1.2).
    this.optimizer.dispose();
    this.phase = next;
    this.optimizer = createOptimizer(next.optimizer);
    this.announcePhase();
  }

  private announcePhase(): void {
    const { index, fromEpoch, untilEpoch, optimizer, learningRate } = this.phase;
    this.sink.emit({ type: 'optimizerPhase', phase: index + 1, fromEpoch, untilEpoch, optimizer, learningRate });
  }

  private async runEpoch(epoch: number): Promise<EpochOutcome> {
    const { spec, split } = this;
    const epochStart = performance.now();
    const order = spec.shuffle ? permutation(split.trainRows, this.shuffle.next) : Int32Array.from({ length: split.trainRows }, (_, i) => i);
    const epochLoss = new RunningSum();
    const epochCorrect = new RunningSum();
    const windowLoss = new RunningSum();
    const windowCorrect = new RunningSum();
    let windowRows = 0;
    let rate = 0;
    try {
      for (let batch = 0; batch < this.stepsPerEpoch; batch++) {
        if (this.options.signal?.aborted) throw new TrainingAbortedError(String(this.options.signal.reason ?? 'aborted'));
        const begin = batch * spec.batchSize;
        const rows = Math.min(spec.batchSize, split.trainRows - begin);
        this.step += 1;
        rate = this.learningRate(this.step, epoch);
        const [loss, correct] = this.trainStep(order.subarray(begin, begin + rows), rate);
        // Losses are batch means; weighting by rows makes the last, smaller batch count fairly.
        const weighted = tf.mul(loss, rows);
        epochLoss.add(weighted);
        windowLoss.add(weighted);
        epochCorrect.add(correct);
        windowCorrect.add(correct);
        tf.dispose([loss, correct, weighted]);
        windowRows += rows;

        if (spec.logEveryBatches > 0 && this.step % spec.logEveryBatches === 0) {
          const windowMean = (await windowLoss.take()) / windowRows;
          const accuracy = (await windowCorrect.take()) / windowRows;
          windowRows = 0;
          const problem = this.checkLoss(windowMean, epoch);
          if (problem) return { diverged: true, step: this.step, loss: windowMean, reason: problem };
          this.sink.emit({ type: 'batchMetrics', epoch, step: this.step, values: { loss: windowMean, accuracy, learning_rate: rate } });
        }
        // Lets the host process see an abort message between batches.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const trainMs = performance.now() - epochStart;
      const loss = (await epochLoss.take()) / split.trainRows;
      const problem = this.checkLoss(loss, epoch);
      if (problem) return { diverged: true, step: this.step, loss, reason: problem };
      const metrics: MetricValues = { loss, accuracy: (await epochCorrect.take()) / split.trainRows, learning_rate: rate };
      if (split.valX && split.valY) {
        const validation = await evaluate(this.model, split.valX, split.valY, this.outputsProbabilities);
        metrics.val_loss = validation.loss;
        metrics.val_accuracy = validation.accuracy;
      }
      const durationMs = performance.now() - epochStart;
      this.sink.emit({
        type: 'epochMetrics',
        epoch,
        step: this.step,
        values: metrics,
        durationMs,
        // Throughput counts training only; validation time is in durationMs.
        samplesPerSecond: (split.trainRows / trainMs) * 1000,
      });
      return { diverged: false, metrics };
    } finally {
      for (const sum of [epochLoss, epochCorrect, windowLoss, windowCorrect]) sum.dispose();
    }
  }

  /** Forward, backward, clip, noise, update: one optimizer step. Returns the batch loss and correct count. */
  private trainStep(rows: Int32Array, rate: number): [tf.Scalar, tf.Scalar] {
    const { spec, split } = this;
    const indices = tf.tensor1d(rows, 'int32');
    const x = tf.gather(split.trainX, indices);
    const y = tf.gather(split.trainY, indices);
    const { loss, correct, gradients } = computeGradients(this.model, this.variables, x, y, this.outputsProbabilities);
    tf.dispose([indices, x, y]);
    let applied = gradients;
    if (spec.clipNorm !== undefined) applied = clipByGlobalNorm(applied, spec.clipNorm);
    if (spec.gradientNoise) {
      const noisy = addGradientNoise(applied, { ...spec.gradientNoise, step: this.step, seed: this.noiseSeed });
      if (applied !== gradients) tf.dispose(applied);
      applied = noisy;
    }
    this.optimizer.apply(this.variables, applied, rate);
    tf.dispose(applied === gradients ? gradients : [...gradients, ...applied]);
    return [loss, correct];
  }

  /** Why the loss counts as diverged, or null. Without divergence recovery only NaN/Inf fail. */
  private checkLoss(loss: number, epoch: number): string | null {
    if (!Number.isFinite(loss)) {
      if (!this.spec.divergence) {
        throw new TrainingSpecError(
          `the loss became ${loss} at epoch ${epoch} (step ${this.step}): training diverged. ` +
            `Lower the learning rate (it was ${formatRate(this.learningRate(this.step, epoch))}), set clipNorm, ` +
            'or add "divergence": {} to roll back and halve the rate automatically',
        );
      }
      return `the loss became ${loss}`;
    }
    if (this.spec.divergence && loss > this.spec.divergence.factor * this.bestLoss) {
      return `the loss ${loss.toPrecision(4)} exceeded ${this.spec.divergence.factor} × the best so far (${this.bestLoss.toPrecision(4)})`;
    }
    this.bestLoss = Math.min(this.bestLoss, loss);
    return null;
  }

  /** Rolls back to the last good epoch with half the rate; returns that epoch. Fails the run after maxRetries. */
  private recover(epoch: number, outcome: Extract<EpochOutcome, { diverged: true }>): number {
    const divergence = this.spec.divergence!;
    const snapshot = this.snapshot!;
    const oldRate = this.learningRate(outcome.step, epoch);
    if (this.retries >= divergence.maxRetries) {
      throw new TrainingSpecError(
        `training diverged at epoch ${epoch} (step ${outcome.step}): ${outcome.reason}, after ${this.retries} ` +
          `halving${this.retries === 1 ? '' : 's'} of the learning rate (now ${formatRate(oldRate)}; maxRetries ${divergence.maxRetries}). ` +
          `Start from a learning rate of ${formatRate(oldRate / 2)} or lower, set clipNorm, or raise divergence.maxRetries`,
      );
    }
    this.retries += 1;
    this.rateScale /= 2;
    this.restoreSnapshot(snapshot);
    this.sink.emit({
      type: 'divergence',
      epoch,
      step: outcome.step,
      loss: outcome.loss,
      reason: outcome.reason,
      rolledBackToEpoch: snapshot.epoch,
      oldLearningRate: oldRate,
      newLearningRate: oldRate / 2,
      retry: this.retries,
      maxRetries: divergence.maxRetries,
    });
    return snapshot.epoch;
  }

  private takeSnapshot(epoch: number): void {
    this.disposeSnapshot();
    this.snapshot = {
      epoch,
      step: this.step,
      phase: this.phase.index,
      weights: this.variables.map((variable) => variable.clone()),
      optimizer: this.optimizer.getState(),
      shuffleState: this.shuffle.state,
      bestLoss: this.bestLoss,
    };
  }

  private restoreSnapshot(snapshot: Snapshot): void {
    this.variables.forEach((variable, i) => variable.assign(snapshot.weights[i]!));
    if (snapshot.phase !== this.phase.index) {
      this.optimizer.dispose();
      this.phase = this.phases[snapshot.phase]!;
      this.optimizer = createOptimizer(this.phase.optimizer);
    }
    this.optimizer.setState(snapshot.optimizer);
    this.shuffle.state = snapshot.shuffleState;
    this.step = snapshot.step;
    this.bestLoss = snapshot.bestLoss;
  }

  private disposeSnapshot(): void {
    if (!this.snapshot) return;
    tf.dispose(this.snapshot.weights);
    for (const values of Object.values(this.snapshot.optimizer.slots)) tf.dispose(values);
    this.snapshot = null;
  }
}

function formatRate(rate: number): string {
  return Number(rate.toPrecision(3)).toString();
}
