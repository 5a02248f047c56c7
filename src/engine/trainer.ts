import * as tf from '@tensorflow/tfjs';
import type { ResolvedJobSpec } from '../spec/job-spec.js';
import type { OptimizerConfig } from '../spec/optimizer-spec.js';
import type { SelectedBackend } from './backend.js';
import { Checkpointing } from './callbacks/checkpointing.js';
import { DivergenceGuard, type RunControl } from './callbacks/divergence-guard.js';
import { EarlyStopping } from './callbacks/early-stopping.js';
import { defaultMonitor, MonitoredMetric } from './callbacks/monitored-metric.js';
import { ReduceOnPlateau } from './callbacks/reduce-on-plateau.js';
import type { CallbackState, EpochEnd, EpochVerdict, TrainingCallback } from './callbacks/training-callback.js';
import {
  callbackBlobs,
  callbackStatesOf,
  captureModel,
  concatFloat32,
  packOptimizerState,
  restoreModel,
  unpackOptimizerState,
  upgradeRunState,
  type CallbackRecord,
  type CheckpointData,
  type CheckpointReason,
  type PartialSums,
  type RunState,
} from './checkpoint-data.js';
import { disposeSplit, inMemoryRows, scalingOf, splitDataset, type Split } from './dataset-split.js';
import { evaluatePart, firstTrainingRows, trainingBatch } from './split-rows.js';
import { StreamedSplit, streamingOf } from './streamed-split.js';
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
import { AugmentedBatches } from './augmented-batches.js';
import { addGradientNoise, clipByGlobalNorm } from './gradient-transforms.js';
import { applyMaxNorm, maxNormConstraints, type MaxNormConstraint } from './max-norm.js';
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
import type { OptimizerState, TrainingOptimizer } from './optimizers/training-optimizer.js';
import { deriveSeed, Mulberry32, permutation } from './random.js';
import { disposeSnapshot, packSnapshot, unpackSnapshot, type RunSnapshot } from './run-snapshot.js';
import { learningRateAt } from './schedules.js';
import { computeGradients, readScalars } from './train-step.js';
import { phaseForEpoch, planPhases, type PlannedPhase } from './training-plan.js';

export interface TrainingOptions {
  backend: SelectedBackend;
  signal?: AbortSignal;
  /** Continue from this checkpoint (built from the same spec) instead of starting over. */
  resumeFrom?: CheckpointData;
  /**
   * Stop at the end of this epoch (before the last) with a checkpoint, as a pause: a resume from it
   * continues exactly as if the run had not stopped. The result says `pausedAtEpoch`.
   */
  pauseAfterEpoch?: number;
  /** The rows of an uploaded data set, when the spec names one. */
  uploaded?: Dataset;
  /** spec.init's source checkpoints' weights, by name, one map per source in initSources' order (disposed once loaded). */
  initialWeights?: tf.NamedTensorMap[];
  /** A progressive net's earlier columns' weights, one map per column (disposed once loaded). */
  columnWeights?: tf.NamedTensorMap[];
  /** The most training threads spec.distributed may use ("auto" takes this many). */
  maxThreads?: number;
  /** Set by runTraining when the spec is distributed. */
  distribution?: Distribution;
  /** Set by runTraining when the spec augments and trains on this thread (distributed threads augment their own rows). */
  augmented?: AugmentedBatches;
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
  const split = dataset.featureFile ? await StreamedSplit.split(dataset, spec) : splitDataset(dataset, spec);
  let built: BuiltModel | undefined;
  let distribution: Distribution | undefined;
  let augmented: AugmentedBatches | undefined;
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
    if (spec.augmentation && spec.task === 'train' && !distribution) augmented = await AugmentedBatches.start(spec.augmentation, spec.seed, split);
    options = { ...options, distribution, augmented };
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
    await augmented?.close();
    disposeSplit(split);
    await split.streamed?.close();
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

type EpochOutcome = { diverged: false; metrics: MetricValues; epochStart: number; samplesPerSecond: number } | { diverged: true; step: number; loss: number; reason: string };

class TrainingRun {
  private readonly phases: PlannedPhase[];
  private readonly variables: tf.Variable[];
  private readonly stepsPerEpoch: number;
  /** Rows one step trains on. */
  private readonly batchRows: number;
  private readonly totalSteps: number;
  private readonly shuffle: Mulberry32;
  private readonly noiseSeed: number;
  private phase: PlannedPhase;
  private optimizer: StepOptimizer;
  private step = 0;
  private completedEpochs = 0;
  private lastMetrics: MetricValues = {};
  private position = { epoch: 1, batch: 0 };
  private epochShuffleState: number;
  private epochSums: PartialSums;
  private windowSums: PartialSums;
  private readonly started = performance.now();
  /** Set by a rollback: the threads must see the restored weights before the next step. */
  private publishWeightsSoon = false;

  private readonly model: tf.LayersModel;
  private readonly training: tf.LayersModel;
  private readonly heads: BuiltModel['heads'];
  /** The heads' own weights: in the training model, not in the exported one. */
  private readonly headVariables: tf.Variable[];
  /** accuracy, or mae for a regression. */
  private readonly scoreName: string;
  private readonly clock: StepClock;
  private readonly objective: Objective;
  private readonly maxNorms: MaxNormConstraint[];

  // Callbacks, called in this order: divergence recovery judges an epoch before anything else sees it.
  private readonly guard: DivergenceGuard<RunSnapshot> | null;
  private readonly plateau: ReduceOnPlateau;
  private readonly earlyStopping: EarlyStopping | null;
  private readonly checkpointing: Checkpointing;
  private readonly callbacks: TrainingCallback[];

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
    this.maxNorms = maxNormConstraints(spec, this.model);
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

    const monitorDefault = defaultMonitor(split.validationRows);
    const early = spec.earlyStopping;
    this.guard = spec.divergence ? new DivergenceGuard(spec.divergence, this.runControl(), sink) : null;
    this.plateau = new ReduceOnPlateau(monitorDefault);
    this.plateau.enterPhase(this.phase.index, this.phase.schedule);
    this.earlyStopping = early
      ? new EarlyStopping({ monitor: early.monitor, mode: early.mode, patience: early.patience, minDelta: early.minDelta, baseline: early.baseline, restoreBest: early.restoreBest }, this.model, sink)
      : null;
    // The best checkpoint is judged as early stopping judges improvement, or by val_loss (loss without validation).
    const best = new MonitoredMetric(early?.monitor ?? monitorDefault, early?.mode ?? 'auto', { minDelta: early?.minDelta ?? 0 });
    this.checkpointing = new Checkpointing(spec.checkpoint.everyEpochs, best, (reason, metrics, isBest) => this.writeCheckpoint(reason, metrics, isBest));
    this.callbacks = [...(this.guard ? [this.guard] : []), this.plateau, ...(this.earlyStopping ? [this.earlyStopping] : []), this.checkpointing];
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
      ...streamingOf(this.split),
    });
    const resume = this.options.resumeFrom;
    const init = this.spec.init;
    if (init && !resume) this.sink.emit({ type: 'transfer', from: init.from, ...(init.alsoFrom ? { alsoFrom: init.alsoFrom } : {}), mode: init.mode, loaded: init.loaded, frozen: init.frozen, reason: init.reason });
    if (!resume) this.reportPreprocessing();
    if (this.spec.diagnostics.activationVariance && !resume) await this.reportActivationVariance();
    if (resume) {
      this.restoreCheckpoint(resume);
      this.sink.emit({ type: 'resumed', fromEpoch: resume.state.completedEpochs, fromStep: resume.state.step, reason: resume.reason });
    }
    if (this.phases.length > 1) this.announcePhase();
    this.guard?.start();
    await this.publishWeights();

    while (this.position.epoch <= this.spec.epochs) {
      const epoch = this.position.epoch;
      this.enterPhaseFor(epoch);
      const outcome = await this.runEpoch(epoch);
      if (outcome.diverged) {
        this.rollBack(epoch, outcome);
        continue;
      }
      const end: EpochEnd = { epoch, metrics: outcome.metrics, last: epoch === this.spec.epochs };
      const verdict = this.judgeEpoch(end);
      if (verdict?.action === 'rollback') {
        this.rollBack(epoch, { step: this.step, loss: verdict.loss, reason: verdict.reason });
        continue;
      }
      this.completedEpochs = epoch;
      this.lastMetrics = outcome.metrics;
      this.position = { epoch: epoch + 1, batch: 0 };
      this.epochShuffleState = this.shuffle.state;
      if (verdict?.action === 'stop' || end.last) return this.finish(end, outcome, verdict?.action === 'stop' ? verdict.reason : undefined);
      this.reportEpoch(end.epoch, end.metrics, outcome);
      for (const callback of this.callbacks) await callback.onEpochAccepted?.(end);
      if (epoch === this.options.pauseAfterEpoch) {
        await this.checkpointing.atEpochEnd(end);
        return { epochs: epoch, steps: this.step, finalMetrics: this.lastMetrics, durationMs: performance.now() - this.started, pausedAtEpoch: epoch };
      }
    }
    // Only a run resumed from its final checkpoint gets here: its model is already final.
    return { epochs: this.completedEpochs, steps: this.step, finalMetrics: this.lastMetrics, durationMs: performance.now() - this.started };
  }

  dispose(): void {
    for (const callback of this.callbacks) callback.dispose?.();
    this.optimizer.dispose();
  }

  /** Every callback sees the epoch, in order; the first one that asks for something decides. */
  private judgeEpoch(end: EpochEnd): EpochVerdict | null {
    let verdict: EpochVerdict | null = null;
    for (const callback of this.callbacks) {
      const asked = callback.onEpochEnd?.(end) ?? null;
      // A diverged epoch is not shown to the others: it is about to be undone.
      if (asked?.action === 'rollback') return asked;
      verdict ??= asked;
    }
    return verdict;
  }

  /**
   * The run ends with a model (its last epoch, or an early stop): callbacks settle the final
   * weights (early stopping's restoreBest), then the test split is scored on exactly those weights,
   * reported with the epoch's metrics, and the final checkpoint is written.
   */
  private async finish(end: EpochEnd, outcome: Extract<EpochOutcome, { diverged: false }>, stopReason: string | undefined): Promise<TrainingResult> {
    for (const callback of this.callbacks) await callback.onTrainEnd?.(end);
    const restored = this.earlyStopping?.restoresBest ?? false;
    const finalMetrics = { ...(this.earlyStopping?.finalMetrics(end.metrics) ?? end.metrics) };
    const reported = { ...end.metrics };
    // The test rows are looked at once, on the model the run hands over.
    const test = await evaluatePart(this.model, this.split, 'test', this.objective);
    if (test) {
      for (const metrics of [finalMetrics, reported]) {
        metrics.test_loss = test.loss;
        metrics[`test_${this.scoreName}`] = test.score;
      }
    }
    this.reportEpoch(end.epoch, reported, outcome);
    this.lastMetrics = finalMetrics;
    await this.checkpointing.final(finalMetrics, restored);
    return {
      epochs: end.epoch,
      steps: this.step,
      finalMetrics,
      durationMs: performance.now() - this.started,
      ...(stopReason ? { stopReason } : {}),
    };
  }

  private reportEpoch(epoch: number, values: MetricValues, outcome: Extract<EpochOutcome, { diverged: false }>): void {
    this.sink.emit({ type: 'epochMetrics', epoch, step: this.step, values, durationMs: performance.now() - outcome.epochStart, samplesPerSecond: outcome.samplesPerSecond });
    const distribution = this.options.distribution;
    if (distribution) {
      this.sink.emit({
        type: 'distributed',
        epoch,
        strategy: distribution.spec.strategy,
        workers: distribution.workers,
        threads: distribution.stats.take(),
        speedup: distribution.soloSamplesPerSecond > 0 ? outcome.samplesPerSecond / distribution.soloSamplesPerSecond : 0,
      });
    }
  }

  /** Divergence recovery's rollback (it throws once maxRetries halvings did not help). */
  private rollBack(epoch: number, at: { step: number; loss: number; reason: string }): void {
    this.guard!.rollback({ epoch, ...at, oldRate: this.learningRate(at.step, epoch) });
    this.publishWeightsSoon = true;
  }

  /** What was fitted on the training rows: a table's scaling in full, a text set's vocabulary in summary. */
  private reportPreprocessing(): void {
    const scaling = scalingOf(this.split.preprocessing);
    if (scaling) this.sink.emit({ type: 'preprocessing', ...scaling });
    if (this.split.vocabularySummary) this.sink.emit({ type: 'preprocessing', vocabulary: this.split.vocabularySummary });
  }

  /** Diagnostics on up to 256 training rows, before the first step. */
  private async reportActivationVariance(): Promise<void> {
    const rows = Math.min(256, this.split.trainRows);
    const x = await firstTrainingRows(this.split, rows);
    try {
      const { input, layers } = await activationVariances(this.model, x);
      this.sink.emit({ type: 'activationVariance', step: 0, rows, input, layers });
    } finally {
      x.dispose();
    }
  }

  /**
   * η of optimizer step `step` (in epoch `epoch`): the phase's schedule counts from the phase's
   * start (a new phase is a new scheduler), times divergence recovery's scale.
   */
  private learningRate(step: number, epoch: number): number {
    const phase = phaseForEpoch(this.phases, epoch);
    const phaseEpochs = phase.untilEpoch - phase.fromEpoch + 1;
    const clock = {
      step: step - (phase.fromEpoch - 1) * this.stepsPerEpoch,
      epoch: epoch - phase.fromEpoch + 1,
      phaseSteps: phaseEpochs * this.stepsPerEpoch,
      phaseEpochs,
    };
    const plateau = phase.index === this.phase.index ? this.plateau.rate : undefined;
    return learningRateAt(phase.schedule, clock, plateau) * (this.guard?.rateScale ?? 1);
  }

  private enterPhaseFor(epoch: number): void {
    const next = phaseForEpoch(this.phases, epoch);
    if (next.index === this.phase.index) return;
    // A new phase starts from fresh optimizer state (docs/techniques/optimization.md).
    this.optimizer.dispose();
    this.phase = next;
    this.optimizer = this.makeOptimizer(next.optimizer);
    this.plateau.enterPhase(next.index, next.schedule);
    this.announcePhase();
  }

  private announcePhase(): void {
    const { index, fromEpoch, untilEpoch, optimizer, learningRate } = this.phase;
    this.sink.emit({ type: 'optimizerPhase', phase: index + 1, fromEpoch, untilEpoch, optimizer, learningRate });
  }

  /** Runs the epoch from `position.batch` on; the order is redrawn from the epoch's saved RNG state. */
  private async runEpoch(epoch: number): Promise<EpochOutcome> {
    if (this.publishWeightsSoon) {
      this.publishWeightsSoon = false;
      await this.publishWeights();
    }
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
      const next = batch + 1 < this.stepsPerEpoch ? order.subarray(begin + this.batchRows, begin + 2 * this.batchRows) : undefined;
      const scalars = await this.trainStep(order.subarray(begin, begin + rows), rate, next);
      trainedRows += rows;
      this.position = { epoch, batch: batch + 1 };
      this.injectFault();
      const diverged = this.recordStep(epoch, rows, scalars, rate);
      if (diverged) return diverged;
      // Lets the host process see an abort message between batches.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return this.finishEpoch(epochStart, trainedRows, rate);
  }

  /** Tests: the crash fires on a fresh start only, so a resumed attempt shows recovery. */
  private injectFault(): void {
    const crash = this.options.faults?.crash;
    if (crash && crash.atStep === this.step && !this.options.resumeFrom) this.options.distribution?.threads.crash(crash.thread);
  }

  /** The epoch's row order: a seeded permutation, or the data set's own order without shuffle. */
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
    if (checkpointingAborts.has(reason)) await this.checkpointing.interrupted(reason as CheckpointReason, this.lastMetrics);
    throw new TrainingAbortedError(reason);
  }

  /**
   * Adds a step's numbers to the epoch and window sums; reports the window every logEveryBatches
   * steps. A NaN/Inf loss is divergence (rolled back with divergence recovery, fatal without).
   */
  private recordStep(epoch: number, rows: number, [loss, correct, entropy, ...headLosses]: number[], rate: number): EpochOutcome | null {
    for (const sums of [this.epochSums, this.windowSums]) {
      // Losses are batch means; weighting by rows makes the last, smaller batch count fairly.
      sums.lossSum += loss! * rows;
      sums.correctSum += correct!;
      sums.entropySum += entropy! * rows;
      headLosses.forEach((headLoss, k) => (sums.headSums![k]! += headLoss! * rows));
      sums.rows += rows;
    }
    if (!Number.isFinite(loss!)) {
      if (!this.guard) {
        throw new TrainingSpecError(
          `the loss became ${loss} at epoch ${epoch} (step ${this.step}): training diverged. ` +
            `Lower the learning rate (it was ${formatRate(rate)}), set clipNorm, ` +
            'or add "divergence": {} to roll back and halve the rate automatically',
        );
      }
      for (const callback of this.callbacks) {
        const reason = callback.onStepEnd?.({ epoch, step: this.step, loss: loss! });
        if (reason) return { diverged: true, step: this.step, loss: loss!, reason };
      }
    }
    if (this.spec.logEveryBatches > 0 && this.step % this.spec.logEveryBatches === 0) {
      const window = this.windowSums;
      this.windowSums = noSums(this.heads.length);
      this.sink.emit({
        type: 'batchMetrics',
        epoch,
        step: this.step,
        values: { loss: window.lossSum / window.rows, [this.scoreName]: window.correctSum / window.rows, learning_rate: rate, ...this.entropyMetric(window), ...this.headMetrics(window) },
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
        fresh.forEach((isFresh) => !isFresh && stats.rejected(thread));
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
    return this.finishEpoch(epochStart, trainedRows, rate);
  }

  /** Hogwild's weights live in shared memory: the server's copy follows them before it evaluates or checkpoints. */
  private syncFromThreads(): void {
    const distribution = this.options.distribution;
    if (distribution?.spec.strategy === 'hogwild') distribution.transport.readInto(this.training.weights.map((weight) => weight.read() as tf.Variable));
  }

  /** The epoch's training metrics (from the step sums) and validation metrics; reported once the callbacks have seen them. */
  private async finishEpoch(epochStart: number, trainedRows: number, rate: number): Promise<EpochOutcome> {
    const { split } = this;
    const trainMs = performance.now() - epochStart;
    const sums = this.epochSums;
    this.epochSums = noSums(this.heads.length);
    const loss = sums.lossSum / sums.rows;
    const metrics: MetricValues = { loss, [this.scoreName]: sums.correctSum / sums.rows, learning_rate: rate, ...this.entropyMetric(sums), ...this.headMetrics(sums) };
    const validation = await evaluatePart(this.model, split, 'validation', this.objective);
    if (validation) {
      metrics.val_loss = validation.loss;
      metrics[`val_${this.scoreName}`] = validation.score;
    }
    // Throughput counts training only (and only this process's share of a resumed epoch).
    const samplesPerSecond = trainedRows > 0 ? (trainedRows / trainMs) * 1000 : 0;
    return { diverged: false, metrics, epochStart, samplesPerSecond };
  }

  private entropyMetric(sums: PartialSums): MetricValues {
    return reportsEntropy(this.objective) ? { output_entropy: sums.entropySum / sums.rows } : {};
  }

  /** Each auxiliary head's loss (plain, unweighted) and the α its last step was trained with. */
  private headMetrics(sums: PartialSums): MetricValues {
    const metrics: MetricValues = {};
    this.heads.forEach((head, k) => {
      metrics[`aux_${head.layer}_loss`] = sums.headSums![k]! / sums.rows;
      if (head.decayToZeroByEpoch !== null) metrics[`aux_${head.layer}_weight`] = this.headWeight(head, this.step - 1);
    });
    return metrics;
  }

  /** α of a head at `step`: constant, or falling linearly to 0 at the end of decayToZeroByEpoch. */
  private headWeight(head: BuiltModel['heads'][number], step: number): number {
    if (head.decayToZeroByEpoch === null) return head.weight;
    return head.weight * Math.max(0, 1 - step / (head.decayToZeroByEpoch * this.stepsPerEpoch));
  }

  /**
   * Forward, backward (here or on the training threads), clip, noise, update: one optimizer step.
   * `next`: the following step's rows, whose augmentation starts while this step computes.
   */
  private async trainStep(rows: Int32Array, rate: number, next?: Int32Array): Promise<number[]> {
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
      const augmented = this.options.augmented;
      let x: tf.Tensor;
      let y: tf.Tensor;
      if (augmented) {
        const batch = augmented.take(this.step, rows);
        if (next) augmented.prefetch(this.step + 1, next);
        x = await batch;
        y = tf.tidy(() => tf.gather(inMemoryRows(split, 'trainY', 'augmentation'), tf.tensor1d(rows, 'int32')));
      } else {
        ({ x, y } = await trainingBatch(split, rows, next));
      }
      const local = computeGradients(this.training, this.variables, x, y, this.objective, headWeights);
      tf.dispose([x, y]);
      gradients = local.gradients;
      const tensors = [local.loss, local.correct, local.entropy, ...local.headLosses];
      scalars = await readScalars(...tensors);
      tf.dispose(tensors);
    }
    await this.applyGradients(gradients, rate);
    return scalars;
  }

  /**
   * Clip, noise, update (consumes `gradients`), hold the max-norm constraints, then share the new
   * weights with the threads. With parameter shards only the `fresh` ones are updated and republished.
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
        // Idempotent on kernels within bounds, so holding every constraint after each shard is exact.
        applyMaxNorm(this.maxNorms);
        await distribution.transport.publishShard(shard, weights);
      }
    } else {
      optimizer.apply(this.variables, applied, rate);
      applyMaxNorm(this.maxNorms);
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

  /** The counters of the run now, with the callbacks' values (their tensors' shapes from `callbacks`). */
  private runState(optimizer: RunState['optimizer'], callbacks: Record<string, CallbackState>): RunState {
    return {
      version: 2,
      completedEpochs: this.completedEpochs,
      position: { ...this.position },
      step: this.step,
      phase: this.phase.index,
      epochShuffleState: this.epochShuffleState,
      epochSums: copySums(this.epochSums),
      windowSums: copySums(this.windowSums),
      optimizer,
      callbacks: Object.fromEntries(Object.entries(callbacks).map(([name, state]): [string, CallbackRecord] => [name, { values: state.values, shapes: state.tensors.map((t) => t.shape) }])),
    };
  }

  /** Puts the counters back, switching optimizer phase if needed, and gives the optimizer `optimizer` (copied). */
  private restoreCounters(state: RunState, optimizer: OptimizerState): void {
    if (state.phase !== this.phase.index) {
      this.optimizer.dispose();
      this.phase = this.phases[state.phase]!;
      this.optimizer = this.makeOptimizer(this.phase.optimizer);
    }
    this.optimizer.setState(optimizer);
    this.completedEpochs = state.completedEpochs;
    this.position = { ...state.position };
    this.step = state.step;
    this.epochShuffleState = state.epochShuffleState;
    this.epochSums = copySums(state.epochSums);
    this.windowSums = copySums(state.windowSums);
  }

  /** The callbacks' states as they are now (copies), divergence recovery's own left out when `withGuard` is false. */
  private callbackStates(withGuard: boolean): Record<string, CallbackState> {
    const states: Record<string, CallbackState> = {};
    for (const callback of this.callbacks) {
      if (!callback.state || (!withGuard && callback === this.guard)) continue;
      states[callback.name] = callback.state();
    }
    return states;
  }

  private restoreCallbacks(states: Record<string, CallbackState>): void {
    for (const callback of this.callbacks) {
      const state = states[callback.name];
      if (state && callback.restore) callback.restore(state);
    }
    // The plateau state belongs to a phase: a rollback or resume may have moved to another one.
    this.plateau.enterPhase(this.phase.index, this.phase.schedule);
  }

  /** What divergence recovery captures and restores: the whole run but its own state. */
  private runControl(): RunControl<RunSnapshot> {
    return {
      capture: () => {
        const optimizer = this.optimizer.getState();
        const callbacks = this.callbackStates(false);
        const layout = { step: optimizer.step, slots: Object.entries(optimizer.slots).map(([name, tensors]) => ({ name, shapes: tensors.map((t) => t.shape) })) };
        return { state: this.runState(layout, callbacks), weights: this.training.weights.map((weight) => weight.read().clone()), optimizer, callbacks };
      },
      restore: (snapshot) => {
        this.training.weights.forEach((weight, i) => (weight.read() as tf.Variable).assign(snapshot.weights[i]!));
        this.restoreCounters(snapshot.state, snapshot.optimizer);
        this.restoreCallbacks(snapshot.callbacks);
      },
      completedEpochs: (snapshot) => snapshot.state.completedEpochs,
      pack: packSnapshot,
      unpack: unpackSnapshot,
      dispose: disposeSnapshot,
    };
  }

  private restoreCheckpoint(checkpoint: CheckpointData): void {
    restoreModel(this.model, checkpoint.model);
    const state = upgradeRunState(checkpoint.state, checkpoint.bestWeights ? this.model.weights.map((weight) => weight.shape as number[]) : []);
    const optimizer = unpackOptimizerState(state.optimizer, checkpoint.optimizerData);
    const callbacks = callbackStatesOf(checkpoint, state);
    try {
      this.restoreCounters(state, optimizer);
      this.restoreCallbacks(callbacks);
    } finally {
      for (const values of Object.values(optimizer.slots)) tf.dispose(values);
      for (const { tensors } of Object.values(callbacks)) tf.dispose(tensors);
    }
    this.lastMetrics = checkpoint.metrics;
    if (checkpoint.headWeights) {
      let offset = 0;
      for (const variable of this.headVariables) {
        variable.assign(tf.tensor(checkpoint.headWeights.subarray(offset, offset + variable.size), variable.shape));
        offset += variable.size;
      }
    }
  }

  private async writeCheckpoint(reason: CheckpointReason, metrics: MetricValues, isBest: boolean): Promise<void> {
    if (!this.sink.checkpoint) return;
    const optimizerState = this.optimizer.getState();
    const callbacks = this.callbackStates(true);
    try {
      const { layout, data } = await packOptimizerState(optimizerState);
      const blobs = await callbackBlobs(callbacks);
      this.sink.checkpoint({
        reason,
        state: this.runState(layout, callbacks),
        metrics,
        isBest,
        model: await captureModel(this.model),
        optimizerData: data,
        bestWeights: blobs.bestWeights,
        headWeights: this.headVariables.length > 0 ? await concatFloat32(this.headVariables) : null,
        rollback: blobs.rollback,
        preprocessing: this.split.preprocessing,
      });
    } finally {
      for (const values of Object.values(optimizerState.slots)) tf.dispose(values);
      for (const { tensors } of Object.values(callbacks)) tf.dispose(tensors);
    }
  }
}

const copySums = (sums: PartialSums): PartialSums => ({ ...sums, ...(sums.headSums ? { headSums: [...sums.headSums] } : {}) });

function formatRate(rate: number): string {
  return Number(rate.toPrecision(3)).toString();
}
