import * as tf from '@tensorflow/tfjs';
import type { ResolvedJobSpec } from '../spec/job-spec.js';
import type { SelectedBackend } from './backend.js';
import {
  captureModel,
  packOptimizerState,
  restoreModel,
  unpackOptimizerState,
  type CheckpointData,
  type CheckpointReason,
  type PartialSums,
  type RunState,
} from './checkpoint-data.js';
import { disposeSplit, splitDataset, type Split } from './dataset-split.js';
import { loadDataset, type Dataset } from './datasets/loader.js';
import {
  checkpointingAborts,
  TrainingAbortedError,
  ThreadsLostError,
  TrainingSpecError,
  type MetricValues,
  type TrainingEventSink,
  type TrainingResult,
} from './events.js';
import { activationVariances } from './diagnostics.js';
import { addGradientNoise, clipByGlobalNorm } from './gradient-transforms.js';
import { freezeForSpec, loadStartingWeights } from './transfer.js';
import { startDistribution, type Distribution } from './distributed/distribution.js';
import { ShardedOptimizer } from './distributed/sharded-optimizer.js';
import { synchronousStep } from './distributed/synchronous-step.js';
import type { ThreadResult } from './distributed/thread-protocol.js';
import { runLrRangeTest } from './lr-range-test.js';
import type { StepClock } from './layers/seeded-dropout.js';
import { buildModel, buildObjective, type BuiltModel } from './model-builder.js';
import { reportsEntropy, scoreName, type Objective } from './objective.js';
import { createOptimizer } from './optimizers/create-optimizer.js';
import type { OptimizerConfig } from '../spec/optimizer-spec.js';
import type { OptimizerState, TrainingOptimizer } from './optimizers/training-optimizer.js';
import { deriveSeed, Mulberry32, permutation } from './random.js';
import { learningRateAt } from './schedules.js';
import { computeGradients, evaluate, readScalars } from './train-step.js';
import { phaseForEpoch, planPhases, type PlannedPhase } from './training-plan.js';

export interface TrainingOptions {
  backend: SelectedBackend;
  signal?: AbortSignal;
  /** Continue from this checkpoint (built from the same spec) instead of starting over. */
  resumeFrom?: CheckpointData;
  /** The rows of an uploaded data set, when the spec names one. */
  uploaded?: Dataset;
  /** spec.init's source checkpoint weights, by name (disposed once loaded). */
  initialWeights?: tf.NamedTensorMap;
  /** A progressive net's earlier columns' weights, one map per column (disposed once loaded). */
  columnWeights?: tf.NamedTensorMap[];
  /** The most training threads spec.distributed may use ("auto" takes this many). */
  maxThreads?: number;
  /** Set by runTraining when the spec is distributed. */
  distribution?: Distribution;
  /** Tests of distributed runs: a deterministic delay per thread, and a thread to crash at a step. */
  faults?: { delayMs?: (thread: number) => number; crash?: { thread: number; atStep: number } };
}

const SHUFFLE_STREAM = 2;
const NOISE_STREAM = 3;

/**
 * Trains one job spec to the end and reports through `sink`. Pure of I/O: the caller decides
 * where events and checkpoints go. Checks `signal` between batches, so an abort lands within one
 * batch; a pause, shutdown or timeout abort hands a checkpoint to the sink first.
 */
export async function runTraining(spec: ResolvedJobSpec, sink: TrainingEventSink, options: TrainingOptions): Promise<TrainingResult> {
  const dataset = loadDataset(spec.dataset, options.uploaded);
  const split = splitDataset(dataset, spec);
  let built: BuiltModel | undefined;
  let distribution: Distribution | undefined;
  try {
    built = buildModel(spec, split.inputShape, dataset.target.kind === 'values');
    const { model } = built;
    loadStartingWeights(spec, model, options);
    freezeForSpec(spec, model);
    if (spec.distributed && spec.task === 'train') {
      if (options.backend.name === 'webgpu') {
        // Each training thread would need a GPU device of its own; one GPU already computes a batch in parallel.
        throw new TrainingSpecError(
          'distributed training threads run on the CPU backends, and this worker trains on webgpu: drop `distributed`, or send the job to a CPU worker with resources.device "cpu"',
        );
      }
      distribution = await startDistribution(spec, spec.distributed, built, split, options);
      const threads = distribution.threads;
      threads.onFailure = (thread, message) =>
        sink.emit({ type: 'threadFailed', thread, message, remaining: threads.alive.length, strategy: spec.distributed!.strategy });
    }
    options = { ...options, distribution };
    if (spec.task === 'lrRangeTest') {
      return await runLrRangeTest(spec, { ...built, split }, sink, options);
    }
    const run = new TrainingRun(spec, built, split, sink, options);
    try {
      return await run.run();
    } finally {
      run.dispose();
    }
  } finally {
    await distribution?.threads.close();
    disposeSplit(split);
    if (built) {
      // The heads' training model shares the exported model's layers: only the heads' own are left to free.
      const shared = new Set(built.model.layers);
      for (const layer of built.training.layers) if (!shared.has(layer) && layer.getClassName() !== 'InputLayer') layer.dispose();
      built.model.dispose();
    }
  }
}

/** What an optimizer step needs: one optimizer, or one per parameter shard. */
type StepOptimizer = TrainingOptimizer | ShardedOptimizer;

const noSums = (heads = 0): PartialSums => ({ lossSum: 0, correctSum: 0, entropySum: 0, ...(heads > 0 ? { headSums: new Array<number>(heads).fill(0) } : {}), rows: 0 });

/** What divergence recovery rolls back to: a copy of the run taken at a good point. */
interface Snapshot {
  state: RunState;
  weights: tf.Tensor[];
  optimizer: OptimizerState;
}

type EpochOutcome = { diverged: false; metrics: MetricValues } | { diverged: true; step: number; loss: number; reason: string };

class TrainingRun {
  private readonly phases: PlannedPhase[];
  private readonly variables: tf.Variable[];
  private readonly stepsPerEpoch: number;
  /** Rows one step trains on. */
  private readonly batchRows: number;
  private readonly totalSteps: number;
  private readonly shuffle: Mulberry32;
  private readonly noiseSeed: number;
  private readonly monitor: string;
  private readonly maximise: boolean;
  private phase: PlannedPhase;
  private optimizer: StepOptimizer;
  private step = 0;
  private completedEpochs = 0;
  /** Divergence recovery halves this; it multiplies the scheduled rate. */
  private rateScale = 1;
  private retries = 0;
  private bestLoss = Number.POSITIVE_INFINITY;
  private best: RunState['best'] = null;
  private bestMetrics: MetricValues | null = null;
  private epochsSinceBest = 0;
  /** Copies of every weight at the best epoch, for early stopping's restoreBest. */
  private bestWeights: tf.Tensor[] | null = null;
  private lastMetrics: MetricValues = {};
  private position = { epoch: 1, batch: 0 };
  private epochShuffleState: number;
  private epochSums: PartialSums;
  private windowSums: PartialSums;
  private snapshot: Snapshot | null = null;
  private readonly started = performance.now();

  private readonly model: tf.LayersModel;
  private readonly training: tf.LayersModel;
  private readonly heads: BuiltModel['heads'];
  /** The heads' own weights: in the training model, not in the exported one. */
  private readonly headVariables: tf.Variable[];
  /** accuracy, or mae for a regression. */
  private readonly scoreName: string;
  private readonly clock: StepClock;
  private readonly objective: Objective;

  constructor(
    private readonly spec: ResolvedJobSpec,
    built: BuiltModel,
    private readonly split: Split,
    private readonly sink: TrainingEventSink,
    private readonly options: TrainingOptions,
  ) {
    ({ model: this.model, clock: this.clock, training: this.training, heads: this.heads } = built);
    this.epochSums = noSums(this.heads.length);
    this.windowSums = noSums(this.heads.length);
    this.objective = buildObjective(spec, built);
    this.scoreName = scoreName(this.objective);
    this.phases = planPhases(spec);
    this.phase = this.phases[0]!;
    this.optimizer = this.makeOptimizer(this.phase.optimizer);
    // LayerVariable.read() is the tf.Variable itself, so updates land in the model.
    this.variables = this.training.trainableWeights.map((weight) => weight.read() as tf.Variable);
    const exported = new Set(this.model.weights);
    this.headVariables = this.training.weights.filter((weight) => !exported.has(weight)).map((weight) => weight.read() as tf.Variable);
    const distributed = options.distribution;
    // A sync step takes a batch per thread it launches (workers + backups); the others one batch per gradient.
    this.batchRows = distributed?.spec.strategy === 'sync' ? (distributed.workers + distributed.spec.backupWorkers) * spec.batchSize : spec.batchSize;
    this.stepsPerEpoch = Math.ceil(split.trainRows / this.batchRows);
    this.totalSteps = this.stepsPerEpoch * spec.epochs;
    this.shuffle = new Mulberry32(deriveSeed(spec.seed, SHUFFLE_STREAM));
    this.epochShuffleState = this.shuffle.state;
    this.noiseSeed = deriveSeed(spec.seed, NOISE_STREAM);
    this.monitor = spec.earlyStopping?.monitor ?? (split.validationRows > 0 ? 'val_loss' : 'loss');
    const mode = spec.earlyStopping?.mode ?? 'auto';
    this.maximise = mode === 'max' || (mode === 'auto' && this.monitor.endsWith('accuracy'));
  }

  async run(): Promise<TrainingResult> {
    this.sink.emit({
      type: 'started',
      backend: this.options.backend.name,
      device: this.options.backend.device,
      ...(this.options.backend.adapter ? { adapter: this.options.backend.adapter } : {}),
      trainRows: this.split.trainRows,
      validationRows: this.split.validationRows,
      testRows: this.split.testRows,
      stepsPerEpoch: this.stepsPerEpoch,
      totalSteps: this.totalSteps,
      parameters: this.model.countParams(),
    });
    const resume = this.options.resumeFrom;
    const init = this.spec.init;
    if (init && !resume) this.sink.emit({ type: 'transfer', from: init.from, mode: init.mode, loaded: init.loaded, frozen: init.frozen, reason: init.reason });
    if (this.split.preprocessing && !resume) this.sink.emit({ type: 'preprocessing', ...this.split.preprocessing });
    if (this.spec.diagnostics.activationVariance && !resume) await this.reportActivationVariance();
    if (resume) {
      this.restoreCheckpoint(resume);
      this.sink.emit({ type: 'resumed', fromEpoch: resume.state.completedEpochs, fromStep: resume.state.step, reason: resume.reason });
    }
    if (this.phases.length > 1) this.announcePhase();
    if (this.spec.divergence) this.takeSnapshot();
    await this.publishWeights();

    while (this.position.epoch <= this.spec.epochs) {
      const epoch = this.position.epoch;
      this.enterPhaseFor(epoch);
      const outcome = await this.runEpoch(epoch);
      if (outcome.diverged) {
        this.recover(epoch, outcome);
        await this.publishWeights();
        continue;
      }
      this.completedEpochs = epoch;
      this.lastMetrics = outcome.metrics;
      const improved = this.trackBest(epoch, outcome.metrics);
      this.position = { epoch: epoch + 1, batch: 0 };
      this.epochShuffleState = this.shuffle.state;
      if (this.spec.divergence) this.takeSnapshot();
      const stop = this.earlyStopReason(epoch);
      if (stop) {
        await this.emitCheckpoint('final', improved);
        return { epochs: epoch, steps: this.step, finalMetrics: this.lastMetrics, durationMs: performance.now() - this.started, stopReason: stop };
      }
      const last = epoch === this.spec.epochs;
      if (last) await this.emitCheckpoint('final', improved);
      else if (epoch % this.spec.checkpoint.everyEpochs === 0) await this.emitCheckpoint('epoch', improved);
    }
    return { epochs: this.spec.epochs, steps: this.step, finalMetrics: this.lastMetrics, durationMs: performance.now() - this.started };
  }

  /** Diagnostics on up to 256 training rows, before the first step. */
  private async reportActivationVariance(): Promise<void> {
    const rows = Math.min(256, this.split.trainRows);
    const x = this.split.trainX.slice([0], [rows]);
    try {
      const { input, layers } = await activationVariances(this.model, x);
      this.sink.emit({ type: 'activationVariance', step: 0, rows, input, layers });
    } finally {
      x.dispose();
    }
  }

  dispose(): void {
    if (this.bestWeights) tf.dispose(this.bestWeights);
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
    this.optimizer = this.makeOptimizer(next.optimizer);
    this.announcePhase();
  }

  private announcePhase(): void {
    const { index, fromEpoch, untilEpoch, optimizer, learningRate } = this.phase;
    this.sink.emit({ type: 'optimizerPhase', phase: index + 1, fromEpoch, untilEpoch, optimizer, learningRate });
  }

  /** Runs the epoch from `position.batch` on; the order is redrawn from the epoch's saved RNG state. */
  private async runEpoch(epoch: number): Promise<EpochOutcome> {
    const strategy = this.options.distribution?.spec.strategy;
    if (strategy === 'async' || strategy === 'hogwild') return this.runEpochInParallel(epoch);
    const { split } = this;
    const epochStart = performance.now();
    const order = this.epochOrder();
    let rate = this.learningRate(Math.max(this.step, 1), epoch);
    let trainedRows = 0;
    for (let batch = this.position.batch; batch < this.stepsPerEpoch; batch++) {
      await this.stopIfAborted(epoch, batch);
      const begin = batch * this.batchRows;
      const rows = Math.min(this.batchRows, split.trainRows - begin);
      this.step += 1;
      rate = this.learningRate(this.step, epoch);
      // Plain numbers per batch: the sums must be readable for a checkpoint to be taken at any batch.
      const scalars = await this.trainStep(order.subarray(begin, begin + rows), rate);
      trainedRows += rows;
      this.position = { epoch, batch: batch + 1 };
      this.injectFault();
      const diverged = this.recordStep(epoch, rows, scalars, rate);
      if (diverged) return diverged;
      // Lets the host process see an abort message between batches.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return this.finishEpoch(epoch, epochStart, trainedRows, rate);
  }

  /** Tests: the crash fires on a fresh start only, so a resumed attempt shows recovery. */
  private injectFault(): void {
    const crash = this.options.faults?.crash;
    if (crash && crash.atStep === this.step && !this.options.resumeFrom) this.options.distribution?.threads.crash(crash.thread);
  }

  private epochOrder(): Int32Array {
    this.shuffle.state = this.epochShuffleState;
    const rows = this.split.trainRows;
    return this.spec.shuffle ? permutation(rows, this.shuffle.next) : Int32Array.from({ length: rows }, (_, i) => i);
  }

  /** A pause, shutdown or timeout abort checkpoints at `batch` first. */
  private async stopIfAborted(epoch: number, batch: number): Promise<void> {
    const signal = this.options.signal;
    if (!signal?.aborted) return;
    const reason = String(signal.reason ?? 'aborted');
    this.position = { epoch, batch };
    if (checkpointingAborts.has(reason)) await this.emitCheckpoint(reason as CheckpointReason, false);
    throw new TrainingAbortedError(reason);
  }

  /** Adds a step's numbers to the epoch and window sums; reports the window every logEveryBatches steps. */
  private recordStep(epoch: number, rows: number, [loss, correct, entropy, ...headLosses]: number[], rate: number): EpochOutcome | null {
    for (const sums of [this.epochSums, this.windowSums]) {
      // Losses are batch means; weighting by rows makes the last, smaller batch count fairly.
      sums.lossSum += loss! * rows;
      sums.correctSum += correct!;
      sums.entropySum += entropy! * rows;
      headLosses.forEach((headLoss, k) => (sums.headSums![k]! += headLoss! * rows));
      sums.rows += rows;
    }
    if (this.spec.logEveryBatches > 0 && this.step % this.spec.logEveryBatches === 0) {
      const window = this.windowSums;
      this.windowSums = noSums(this.heads.length);
      const windowLoss = window.lossSum / window.rows;
      const problem = this.checkLoss(windowLoss, epoch);
      if (problem) return { diverged: true, step: this.step, loss: windowLoss, reason: problem };
      this.sink.emit({
        type: 'batchMetrics',
        epoch,
        step: this.step,
        values: { loss: windowLoss, [this.scoreName]: window.correctSum / window.rows, learning_rate: rate, ...this.entropyMetric(window), ...this.headMetrics(window) },
      });
    }
    return null;
  }

  /**
   * Async and hogwild: every live thread works on its own batch; each gradient that comes back is
   * one step. Async applies it here unless it is staler than maxStaleness; hogwild threads have
   * applied theirs to the shared weights already.
   */
  private async runEpochInParallel(epoch: number): Promise<EpochOutcome> {
    const distribution = this.options.distribution!;
    const { threads, transport, stats } = distribution;
    const { strategy, maxStaleness, rampUp } = distribution.spec;
    const epochStart = performance.now();
    const order = this.epochOrder();
    let rate = this.learningRate(Math.max(this.step, 1), epoch);
    let trainedRows = 0;
    let next = this.position.batch;
    const inFlight = new Map<number, Promise<{ thread: number; batch: number; result?: ThreadResult }>>();
    const dispatch = () => {
      const active = rampUp ? Math.min(threads.alive.length, 1 + Math.floor(this.step / rampUp.everySteps)) : threads.alive.length;
      for (const thread of threads.alive.slice(0, active)) {
        if (inFlight.has(thread) || next >= this.stepsPerEpoch || this.options.signal?.aborted) continue;
        const batch = next++;
        const begin = batch * this.batchRows;
        const rows = order.subarray(begin, Math.min(begin + this.batchRows, this.split.trainRows));
        const step = this.step + inFlight.size + 1;
        const delayMs = this.options.faults?.delayMs?.(thread);
        const task = { id: threads.newTaskId(), step, rows, headWeights: this.heads.map((head) => this.headWeight(head, step - 1)), ...(delayMs ? { delayMs } : {}) };
        const running = strategy === 'hogwild' ? threads.run(thread, { type: 'hogwild', ...task, rate: this.learningRate(step, epoch) }) : threads.run(thread, { type: 'gradient', ...task });
        inFlight.set(
          thread,
          running.then(
            (result) => ({ thread, batch, result }),
            () => ({ thread, batch }),
          ),
        );
      }
    };
    dispatch();
    while (inFlight.size > 0) {
      const { thread, result } = await Promise.race(inFlight.values());
      inFlight.delete(thread);
      if (result) {
        // Each shard judges staleness by its own version; a gradient no shard accepts is rejected whole.
        const staleness = transport.versions.map((version, shard) => version - result.versions[shard]!);
        const fresh = staleness.map((behind) => strategy !== 'async' || behind <= maxStaleness);
        staleness.forEach((behind, shard) => !fresh[shard] && stats.rejected(thread, behind));
        if (fresh.some(Boolean)) {
          this.step += 1;
          stats.used(thread, result, Math.max(...staleness.filter((_, shard) => fresh[shard])), this.step);
          this.injectFault();
          rate = this.learningRate(this.step, epoch);
          if (strategy === 'async') await this.applyGradients(this.unflatten(result.gradient!), rate, fresh);
          trainedRows += result.rows;
          const diverged = this.recordStep(epoch, result.rows, [result.loss, result.correct, result.entropy, ...result.headLosses], rate);
          if (diverged) {
            await Promise.all(inFlight.values());
            this.syncFromThreads();
            return diverged;
          }
        }
      }
      if (threads.alive.length === 0) throw new ThreadsLostError('every training thread failed: a new attempt starts again from the last checkpoint');
      // A lost batch (its thread failed) is not retried: its rows are simply missing from this epoch.
      this.position = { epoch, batch: next - inFlight.size };
      if (this.options.signal?.aborted) {
        await Promise.all(inFlight.values());
        this.syncFromThreads();
        await this.stopIfAborted(epoch, next);
      }
      dispatch();
    }
    this.position = { epoch, batch: this.stepsPerEpoch };
    this.syncFromThreads();
    return this.finishEpoch(epoch, epochStart, trainedRows, rate);
  }

  /** Hogwild's weights live in shared memory: the server's copy follows them before it evaluates or checkpoints. */
  private syncFromThreads(): void {
    const distribution = this.options.distribution;
    if (distribution?.spec.strategy === 'hogwild') distribution.transport.readInto(this.training.weights.map((weight) => weight.read() as tf.Variable));
  }

  private async finishEpoch(epoch: number, epochStart: number, trainedRows: number, rate: number): Promise<EpochOutcome> {
    const { spec, split } = this;
    const trainMs = performance.now() - epochStart;
    const sums = this.epochSums;
    this.epochSums = noSums(this.heads.length);
    const loss = sums.lossSum / sums.rows;
    const problem = this.checkLoss(loss, epoch);
    if (problem) return { diverged: true, step: this.step, loss, reason: problem };
    const metrics: MetricValues = { loss, [this.scoreName]: sums.correctSum / sums.rows, learning_rate: rate, ...this.entropyMetric(sums), ...this.headMetrics(sums) };
    if (split.valX && split.valY) {
      const validation = await evaluate(this.model, split.valX, split.valY, this.objective);
      metrics.val_loss = validation.loss;
      metrics[`val_${this.scoreName}`] = validation.score;
    }
    // The test rows are looked at once, after the last epoch.
    if (epoch === spec.epochs && split.testX && split.testY) {
      const test = await evaluate(this.model, split.testX, split.testY, this.objective);
      metrics.test_loss = test.loss;
      metrics[`test_${this.scoreName}`] = test.score;
    }
    // Throughput counts training only (and only this process's share of a resumed epoch).
    const samplesPerSecond = trainedRows > 0 ? (trainedRows / trainMs) * 1000 : 0;
    this.sink.emit({ type: 'epochMetrics', epoch, step: this.step, values: metrics, durationMs: performance.now() - epochStart, samplesPerSecond });
    const distribution = this.options.distribution;
    if (distribution) {
      this.sink.emit({
        type: 'distributed',
        epoch,
        strategy: distribution.spec.strategy,
        workers: distribution.workers,
        threads: distribution.stats.take(),
        speedup: distribution.soloSamplesPerSecond > 0 ? samplesPerSecond / distribution.soloSamplesPerSecond : 0,
      });
    }
    return { diverged: false, metrics };
  }

  private entropyMetric(sums: PartialSums): MetricValues {
    return reportsEntropy(this.objective) ? { output_entropy: sums.entropySum / sums.rows } : {};
  }

  /** Each auxiliary head's loss (plain, unweighted) and its current α. */
  private headMetrics(sums: PartialSums): MetricValues {
    const metrics: MetricValues = {};
    this.heads.forEach((head, k) => {
      metrics[`aux_${head.layer}_loss`] = sums.headSums![k]! / sums.rows;
      if (head.decayToZeroByEpoch !== null) metrics[`aux_${head.layer}_weight`] = this.headWeight(head, this.step);
    });
    return metrics;
  }

  /** α of a head at `step`: constant, or falling linearly to 0 at the end of decayToZeroByEpoch. */
  private headWeight(head: BuiltModel['heads'][number], step: number): number {
    if (head.decayToZeroByEpoch === null) return head.weight;
    return head.weight * Math.max(0, 1 - step / (head.decayToZeroByEpoch * this.stepsPerEpoch));
  }

  /** Forward, backward (here or on the training threads), clip, noise, update: one optimizer step. */
  private async trainStep(rows: Int32Array, rate: number): Promise<number[]> {
    const { split } = this;
    this.clock.step = this.step;
    // α of the step being taken (steps count from 1, so decay starts below α).
    const headWeights = this.heads.map((head) => this.headWeight(head, this.step - 1));
    const distribution = this.options.distribution;
    let gradients: tf.Tensor[];
    let scalars: number[];
    if (distribution) {
      const step = await synchronousStep(distribution.threads, distribution.stats, rows, {
        workers: distribution.workers,
        backupWorkers: distribution.spec.backupWorkers,
        step: this.step,
        headWeights,
        ...(this.options.faults?.delayMs ? { delayMs: this.options.faults.delayMs } : {}),
      });
      gradients = this.unflatten(step.gradient);
      scalars = [step.loss, step.correct, step.entropy, ...step.headLosses];
      if (distribution.spec.scaleLearningRate) rate *= distribution.workers;
    } else {
      const indices = tf.tensor1d(rows, 'int32');
      const x = tf.gather(split.trainX, indices);
      const y = tf.gather(split.trainY, indices);
      const local = computeGradients(this.training, this.variables, x, y, this.objective, headWeights);
      tf.dispose([indices, x, y]);
      gradients = local.gradients;
      const tensors = [local.loss, local.correct, local.entropy, ...local.headLosses];
      scalars = await readScalars(...tensors);
      tf.dispose(tensors);
    }
    await this.applyGradients(gradients, rate);
    return scalars;
  }

  /**
   * Clip, noise, update (consumes `gradients`), then share the new weights with the threads. With
   * parameter shards only the `fresh` ones are updated and republished.
   */
  private async applyGradients(gradients: tf.Tensor[], rate: number, fresh?: boolean[]): Promise<void> {
    const { spec } = this;
    let applied = gradients;
    if (spec.clipNorm !== undefined) applied = clipByGlobalNorm(applied, spec.clipNorm);
    if (spec.gradientNoise) {
      const noisy = addGradientNoise(applied, { ...spec.gradientNoise, step: this.step, seed: this.noiseSeed });
      if (applied !== gradients) tf.dispose(applied);
      applied = noisy;
    }
    const optimizer = this.optimizer;
    const distribution = this.options.distribution;
    if (optimizer instanceof ShardedOptimizer && fresh && distribution) {
      const weights = this.training.weights.map((weight) => weight.read());
      for (const [shard, isFresh] of fresh.entries()) {
        if (!isFresh) continue;
        optimizer.applyShard(shard, this.variables, applied, rate);
        await distribution.transport.publishShard(shard, weights);
      }
    } else {
      optimizer.apply(this.variables, applied, rate);
    }
    tf.dispose(applied === gradients ? gradients : [...gradients, ...applied]);
    if (!(optimizer instanceof ShardedOptimizer)) await this.publishWeights();
  }

  /** A fresh optimizer for a phase: one per parameter shard when the async server is sharded. */
  private makeOptimizer(config: OptimizerConfig): StepOptimizer {
    const shards = this.options.distribution?.shards ?? [];
    return shards.length > 1 ? new ShardedOptimizer(() => createOptimizer(config), shards) : createOptimizer(config);
  }

  /** A flat gradient from the threads, as one tensor per trainable variable. */
  private unflatten(flat: Float32Array): tf.Tensor[] {
    let offset = 0;
    return this.variables.map((variable) => {
      const tensor = tf.tensor(flat.subarray(offset, offset + variable.size), variable.shape);
      offset += variable.size;
      return tensor;
    });
  }

  /** The training threads compute with the weights in shared memory: put the current ones there. */
  private async publishWeights(): Promise<void> {
    const distribution = this.options.distribution;
    if (distribution) await distribution.transport.publish(this.training.weights.map((weight) => weight.read()));
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

  /**
   * Whether this epoch is the best so far by the monitored metric: val_loss (or loss without a
   * validation split), or early stopping's monitor, mode and minDelta when it is set.
   */
  private trackBest(epoch: number, metrics: MetricValues): boolean {
    const value = metrics[this.monitor];
    const minDelta = this.spec.earlyStopping?.minDelta ?? 0;
    const better = (a: number, b: number) => (this.maximise ? a > b + minDelta : a < b - minDelta);
    if (value === undefined || !Number.isFinite(value) || (this.best && !better(value, this.best.value))) {
      this.epochsSinceBest += 1;
      return false;
    }
    this.best = { metric: this.monitor, value, epoch };
    this.bestMetrics = { ...metrics };
    this.epochsSinceBest = 0;
    if (this.spec.earlyStopping?.restoreBest) {
      if (this.bestWeights) tf.dispose(this.bestWeights);
      this.bestWeights = this.model.getWeights().map((weight) => weight.clone());
    }
    return true;
  }

  /** Ends the run when the monitor has not improved for `patience` epochs, restoring the best weights if asked. */
  private earlyStopReason(epoch: number): string | undefined {
    const early = this.spec.earlyStopping;
    if (!early || epoch === this.spec.epochs || this.epochsSinceBest < Math.max(early.patience, 1) || !this.best) return undefined;
    const restored = early.restoreBest && this.bestWeights !== null;
    if (restored) {
      this.model.setWeights(this.bestWeights!);
      this.lastMetrics = this.bestMetrics ?? this.lastMetrics;
    }
    const reason = `early stop at epoch ${epoch}, best ${this.best.metric} ${Number(this.best.value.toPrecision(4))} at epoch ${this.best.epoch}${restored ? ' (its weights restored)' : ''}`;
    this.sink.emit({ type: 'earlyStop', epoch, bestEpoch: this.best.epoch, monitor: this.best.metric, best: this.best.value, restoredBest: restored, reason });
    return reason;
  }

  /** Rolls back to the last good point with half the rate. Fails the run after maxRetries. */
  private recover(epoch: number, outcome: Extract<EpochOutcome, { diverged: true }>): void {
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
    const retries = this.retries + 1;
    const rateScale = this.rateScale / 2;
    this.restoreRun(snapshot.state, snapshot.weights, snapshot.optimizer);
    this.retries = retries;
    this.rateScale = rateScale;
    this.sink.emit({
      type: 'divergence',
      epoch,
      step: outcome.step,
      loss: outcome.loss,
      reason: outcome.reason,
      rolledBackToEpoch: snapshot.state.completedEpochs,
      oldLearningRate: oldRate,
      newLearningRate: oldRate / 2,
      retry: retries,
      maxRetries: divergence.maxRetries,
    });
  }

  private runState(optimizer: RunState['optimizer']): RunState {
    return {
      version: 1,
      completedEpochs: this.completedEpochs,
      position: { ...this.position },
      step: this.step,
      phase: this.phase.index,
      rateScale: this.rateScale,
      retries: this.retries,
      bestLoss: Number.isFinite(this.bestLoss) ? this.bestLoss : null,
      epochShuffleState: this.epochShuffleState,
      epochSums: copySums(this.epochSums),
      windowSums: copySums(this.windowSums),
      best: this.best ? { ...this.best } : null,
      bestMetrics: this.bestMetrics ? { ...this.bestMetrics } : null,
      epochsSinceBest: this.epochsSinceBest,
      optimizer,
    };
  }

  /** Puts the run back to `state` with the given weights and optimizer state (copied, not taken). */
  private restoreRun(state: RunState, weights: tf.Tensor[] | null, optimizer: OptimizerState): void {
    if (weights) this.variables.forEach((variable, i) => variable.assign(weights[i]!));
    if (state.phase !== this.phase.index) {
      this.optimizer.dispose();
      this.phase = this.phases[state.phase]!;
      this.optimizer = this.makeOptimizer(this.phase.optimizer);
    }
    this.optimizer.setState(optimizer);
    this.completedEpochs = state.completedEpochs;
    this.position = { ...state.position };
    this.step = state.step;
    this.rateScale = state.rateScale;
    this.retries = state.retries;
    this.bestLoss = state.bestLoss ?? Number.POSITIVE_INFINITY;
    this.epochShuffleState = state.epochShuffleState;
    this.epochSums = copySums(state.epochSums);
    this.windowSums = copySums(state.windowSums);
    this.best = state.best ? { ...state.best } : null;
    this.bestMetrics = state.bestMetrics ? { ...state.bestMetrics } : null;
    this.epochsSinceBest = state.epochsSinceBest;
  }

  private restoreCheckpoint(checkpoint: CheckpointData): void {
    restoreModel(this.model, checkpoint.model);
    const optimizer = unpackOptimizerState(checkpoint.state.optimizer, checkpoint.optimizerData);
    try {
      this.restoreRun(checkpoint.state, null, optimizer);
    } finally {
      for (const values of Object.values(optimizer.slots)) tf.dispose(values);
    }
    this.lastMetrics = checkpoint.metrics;
    if (checkpoint.headWeights) {
      let offset = 0;
      for (const variable of this.headVariables) {
        variable.assign(tf.tensor(checkpoint.headWeights.subarray(offset, offset + variable.size), variable.shape));
        offset += variable.size;
      }
    }
    if (checkpoint.bestWeights) {
      let offset = 0;
      this.bestWeights = this.model.getWeights().map(({ shape }) => {
        const size = shape.reduce((a, b) => a * b, 1);
        const values = checkpoint.bestWeights!.subarray(offset, offset + size);
        offset += size;
        return tf.tensor(values, shape);
      });
    }
  }

  private async emitCheckpoint(reason: CheckpointReason, isBest: boolean): Promise<void> {
    if (!this.sink.checkpoint) return;
    const optimizerState = this.optimizer.getState();
    try {
      const { layout, data } = await packOptimizerState(optimizerState);
      this.sink.checkpoint({
        reason,
        state: this.runState(layout),
        metrics: this.lastMetrics,
        isBest,
        model: await captureModel(this.model),
        optimizerData: data,
        bestWeights: this.bestWeights ? await concatFloat32(this.bestWeights) : null,
        headWeights: this.headVariables.length > 0 ? await concatFloat32(this.headVariables) : null,
        preprocessing: this.split.preprocessing,
      });
    } finally {
      for (const values of Object.values(optimizerState.slots)) tf.dispose(values);
    }
  }

  private takeSnapshot(): void {
    this.disposeSnapshot();
    this.snapshot = {
      state: this.runState({ step: 0, slots: [] }),
      weights: this.variables.map((variable) => variable.clone()),
      optimizer: this.optimizer.getState(),
    };
  }

  private disposeSnapshot(): void {
    if (!this.snapshot) return;
    tf.dispose(this.snapshot.weights);
    for (const values of Object.values(this.snapshot.optimizer.slots)) tf.dispose(values);
    this.snapshot = null;
  }
}

const copySums = (sums: PartialSums): PartialSums => ({ ...sums, ...(sums.headSums ? { headSums: [...sums.headSums] } : {}) });

async function concatFloat32(tensors: tf.Tensor[]): Promise<Float32Array> {
  const parts = await Promise.all(tensors.map((t) => t.data() as Promise<Float32Array>));
  const out = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function formatRate(rate: number): string {
  return Number(rate.toPrecision(3)).toString();
}
