import * as tf from '@tensorflow/tfjs';
import { TrainingSpecError, type TrainingEventSink } from '../events.js';
import type { CallbackState, EpochEnd, EpochVerdict, StepEnd, TrainingCallback } from './training-callback.js';

export interface DivergenceOptions {
  maxRetries: number;
  factor: number;
  tolerance: number;
}

/** What the guard compares an epoch with: the best and the first accepted epoch's mean training loss. */
export interface LossHistory {
  best: number | null;
  first: number | null;
}

/**
 * Whether an epoch's mean training loss has diverged, and why. The sound criterion
 * (docs/techniques/optimization.md): a NaN/Inf loss always has; otherwise the loss must exceed
 * `factor` × the best epoch mean so far AND rise above it by more than `tolerance` × the first
 * epoch's mean. Epoch means, not single batches, are compared, so batch noise is averaged the same
 * way on both sides; the second condition keeps noise near a small loss (a rise from 1e-4 to 2e-3
 * after starting at 11) from counting, while a real blow-up, which grows geometrically, crosses
 * both at once. (For a loss that can be negative the factor applies to its distance from 0.)
 */
export function divergenceReason(loss: number, history: LossHistory, options: Pick<DivergenceOptions, 'factor' | 'tolerance'>): string | null {
  if (!Number.isFinite(loss)) return `the loss became ${loss}`;
  const { best, first } = history;
  if (best === null || first === null) return null;
  const byFactor = best + (options.factor - 1) * Math.abs(best);
  const byTolerance = best + options.tolerance * Math.abs(first);
  if (loss <= byFactor || loss <= byTolerance) return null;
  return (
    `the epoch's mean loss ${loss.toPrecision(4)} exceeded ${options.factor} × the best so far (${best.toPrecision(4)}) ` +
    `by more than ${options.tolerance} × the first epoch's (${first.toPrecision(4)})`
  );
}

/**
 * What the run gives the guard to roll back with: a copy of everything needed to continue from
 * the current point (weights, optimizer, counters, the other callbacks' state), and a way back to it.
 */
export interface RunControl<Snapshot> {
  capture(): Snapshot;
  restore(snapshot: Snapshot): void;
  /** The epochs a snapshot had completed, for the divergence event. */
  completedEpochs(snapshot: Snapshot): number;
  /** The snapshot as state and tensors (the caller owns the tensors), and back. */
  pack(snapshot: Snapshot): CallbackState;
  unpack(state: CallbackState): Snapshot;
  dispose(snapshot: Snapshot): void;
}

interface Point<Snapshot> {
  run: Snapshot;
  history: LossHistory;
}

interface PackedPoint {
  run: unknown;
  history: LossHistory;
  tensors: number;
}

interface GuardValues {
  retries: number;
  rateScale: number;
  history: LossHistory;
  confirmed: PackedPoint | null;
  candidate: PackedPoint | null;
}

/**
 * Divergence recovery ("start high and halve until it stops diverging"): when a step's loss is
 * NaN/Inf, or an epoch's mean loss has diverged (divergenceReason), the run goes back to the last
 * point whose weights were checked, halves the rate for every step from there on, and carries on;
 * after maxRetries halvings it fails, saying which rate to start from.
 *
 * The weights at the end of epoch e are only checked by epoch e + 1's losses (they are computed
 * before each update), so the end of epoch e is a `candidate` until epoch e + 1 is accepted, and
 * becomes `confirmed` then. A rollback goes to the confirmed point: never to weights that already
 * contain the step that diverged. Both points are checkpointed, so a resumed run rolls back to
 * exactly where the straight run would have.
 */
export class DivergenceGuard<Snapshot> implements TrainingCallback {
  readonly name = 'divergence';
  private retries = 0;
  private scale = 1;
  private history: LossHistory = { best: null, first: null };
  private confirmed: Point<Snapshot> | null = null;
  private candidate: Point<Snapshot> | null = null;

  constructor(
    private readonly options: DivergenceOptions,
    private readonly control: RunControl<Snapshot>,
    private readonly sink: TrainingEventSink,
  ) {}

  /** Multiplies the scheduled rate: 1, halved at every rollback. */
  get rateScale(): number {
    return this.scale;
  }

  /** Takes the starting point as the first candidate, unless a checkpoint brought its points back. */
  start(): void {
    if (!this.confirmed && !this.candidate) this.candidate = this.point();
  }

  onStepEnd({ loss }: StepEnd): string | null {
    return Number.isFinite(loss) ? null : `the loss became ${loss}`;
  }

  onEpochEnd({ metrics }: EpochEnd): EpochVerdict | null {
    const loss = metrics.loss!;
    const reason = divergenceReason(loss, this.history, this.options);
    if (reason) return { action: 'rollback', reason, loss };
    this.history = { best: this.history.best === null ? loss : Math.min(this.history.best, loss), first: this.history.first ?? loss };
    return null;
  }

  /** The epoch checked the weights it started from: they become the confirmed point, its end the candidate. */
  onEpochAccepted(): void {
    if (this.candidate) {
      this.disposePoint(this.confirmed);
      this.confirmed = this.candidate;
    }
    this.candidate = this.point();
  }

  /**
   * Goes back to the confirmed point (the start, before any epoch was accepted) and halves the rate;
   * `oldRate` is the rate of the step that diverged. Throws once maxRetries halvings did not help.
   */
  rollback(at: { epoch: number; step: number; loss: number; reason: string; oldRate: number }): void {
    const { maxRetries } = this.options;
    if (this.retries >= maxRetries) {
      throw new TrainingSpecError(
        `training diverged at epoch ${at.epoch} (step ${at.step}): ${at.reason}, after ${this.retries} ` +
          `halving${this.retries === 1 ? '' : 's'} of the learning rate (now ${formatRate(at.oldRate)}; maxRetries ${maxRetries}). ` +
          `Start from a learning rate of ${formatRate(at.oldRate / 2)} or lower, set clipNorm, or raise divergence.maxRetries`,
      );
    }
    const target = this.confirmed ?? this.candidate!;
    this.control.restore(target.run);
    this.history = { ...target.history };
    // The point returned to is checked (or the start): nothing newer is a candidate any more.
    if (this.confirmed) {
      this.disposePoint(this.candidate);
      this.candidate = null;
    }
    this.retries += 1;
    this.scale /= 2;
    this.sink.emit({
      type: 'divergence',
      epoch: at.epoch,
      step: at.step,
      loss: at.loss,
      reason: at.reason,
      rolledBackToEpoch: this.control.completedEpochs(target.run),
      oldLearningRate: at.oldRate,
      newLearningRate: at.oldRate / 2,
      retry: this.retries,
      maxRetries,
    });
  }

  state(): CallbackState {
    const tensors: tf.Tensor[] = [];
    const pack = (point: Point<Snapshot> | null): PackedPoint | null => {
      if (!point) return null;
      const packed = this.control.pack(point.run);
      tensors.push(...packed.tensors);
      return { run: packed.values, history: { ...point.history }, tensors: packed.tensors.length };
    };
    const values: GuardValues = { retries: this.retries, rateScale: this.scale, history: { ...this.history }, confirmed: pack(this.confirmed), candidate: pack(this.candidate) };
    return { values, tensors };
  }

  restore(state: CallbackState): void {
    const values = state.values as GuardValues;
    this.retries = values.retries;
    this.scale = values.rateScale;
    this.history = { ...values.history };
    let offset = 0;
    const unpack = (packed: PackedPoint | null): Point<Snapshot> | null => {
      if (!packed) return null;
      const tensors = state.tensors.slice(offset, offset + packed.tensors);
      offset += packed.tensors;
      return { run: this.control.unpack({ values: packed.run, tensors }), history: { ...packed.history } };
    };
    this.disposePoint(this.confirmed);
    this.disposePoint(this.candidate);
    this.confirmed = unpack(values.confirmed);
    this.candidate = unpack(values.candidate);
  }

  dispose(): void {
    this.disposePoint(this.confirmed);
    this.disposePoint(this.candidate);
    this.confirmed = null;
    this.candidate = null;
  }

  private point(): Point<Snapshot> {
    return { run: this.control.capture(), history: { ...this.history } };
  }

  private disposePoint(point: Point<Snapshot> | null): void {
    if (point) this.control.dispose(point.run);
  }
}

function formatRate(rate: number): string {
  return Number(rate.toPrecision(3)).toString();
}
