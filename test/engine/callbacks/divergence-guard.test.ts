import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { DivergenceGuard, divergenceReason, type RunControl } from '../../../src/engine/callbacks/divergence-guard.js';
import { TrainingSpecError, type TrainingEvent } from '../../../src/engine/events.js';

const options = { maxRetries: 2, factor: 4, tolerance: 0.1 };

describe('the divergence criterion', () => {
  it('NaN and Inf always diverge; nothing does before a first epoch is accepted', () => {
    expect(divergenceReason(Number.NaN, { best: 1, first: 1 }, options)).toBe('the loss became NaN');
    expect(divergenceReason(Number.POSITIVE_INFINITY, { best: null, first: null }, options)).toBe('the loss became Infinity');
    expect(divergenceReason(1e9, { best: null, first: null }, options)).toBeNull();
  });

  it('needs both: above factor × the best, and a rise above tolerance × the first epoch\'s loss', () => {
    // The false alarm: 0.002 after a best of 0.00016, having started at 11.
    expect(divergenceReason(0.002018, { best: 0.0001565, first: 10.97 }, options)).toBeNull();
    // A blow-up: 4.4 × the best and far above the noise scale.
    expect(divergenceReason(43.9 * 4, { best: 15.5, first: 15.5 }, options)).toMatch(/exceeded 4 × the best so far \(15\.50\) by more than 0\.1 × the first epoch's \(15\.50\)/);
    // Big rise, but under the factor: not yet.
    expect(divergenceReason(43.9, { best: 15.5, first: 15.5 }, options)).toBeNull();
    // Over the factor and the tolerance, from a small best.
    expect(divergenceReason(2, { best: 0.1, first: 5 }, options)).not.toBeNull();
    expect(divergenceReason(0.45, { best: 0.1, first: 5 }, options)).toBeNull();
  });

  it('measures the factor from 0 for a loss that can be negative (a confidence penalty)', () => {
    expect(divergenceReason(-0.1, { best: -0.5, first: 1 }, options)).toBeNull();
    expect(divergenceReason(2, { best: -0.5, first: 1 }, options)).not.toBeNull();
  });
});

/** A run whose whole state is one number; snapshots are that number. */
function fakeRun() {
  const run = { value: 0, restored: [] as number[] };
  const control: RunControl<number> = {
    capture: () => run.value,
    restore: (snapshot) => {
      run.value = snapshot;
      run.restored.push(snapshot);
    },
    completedEpochs: (snapshot) => snapshot,
    pack: (snapshot) => ({ values: snapshot, tensors: [tf.scalar(snapshot)] }),
    unpack: ({ values, tensors }) => {
      expect(tensors).toHaveLength(1);
      return values as number;
    },
    dispose: () => undefined,
  };
  return { run, control };
}

const epoch = (n: number, loss: number) => ({ epoch: n, metrics: { loss }, last: false });

describe('DivergenceGuard', () => {
  it('rolls back to the start of the last accepted epoch (checked weights), never to the end of it', () => {
    const events: TrainingEvent[] = [];
    const { run, control } = fakeRun();
    const guard = new DivergenceGuard(options, control, { emit: (e) => events.push(e) });
    guard.start();
    for (const [n, loss] of [
      [1, 15.5],
      [2, 43.9],
    ] as const) {
      run.value = n - 1;
      expect(guard.onEpochEnd(epoch(n, loss))).toBeNull();
      run.value = n;
      guard.onEpochAccepted();
    }
    const verdict = guard.onEpochEnd(epoch(3, 164));
    expect(verdict).toMatchObject({ action: 'rollback', loss: 164 });
    guard.rollback({ epoch: 3, step: 3, loss: 164, reason: 'r', oldRate: 1.2 });
    // The end of epoch 2 was never checked; the end of epoch 1 was, by epoch 2's loss.
    expect(run.restored).toEqual([1]);
    expect(guard.rateScale).toBe(0.5);
    expect(events).toEqual([expect.objectContaining({ type: 'divergence', rolledBackToEpoch: 1, oldLearningRate: 1.2, newLearningRate: 0.6, retry: 1 })]);
    // A second divergence before anything new is accepted goes back to the same checked point.
    guard.rollback({ epoch: 2, step: 2, loss: 100, reason: 'r', oldRate: 0.6 });
    expect(run.restored).toEqual([1, 1]);
    expect(() => guard.rollback({ epoch: 2, step: 2, loss: 100, reason: 'r', oldRate: 0.3 })).toThrow(TrainingSpecError);
  });

  it('before any epoch is accepted, goes back to the start; NaN at a step is divergence', () => {
    const { run, control } = fakeRun();
    const guard = new DivergenceGuard(options, control, { emit: () => undefined });
    guard.start();
    run.value = 7;
    expect(guard.onStepEnd({ epoch: 1, step: 3, loss: Number.NaN })).toBe('the loss became NaN');
    guard.rollback({ epoch: 1, step: 3, loss: Number.NaN, reason: 'r', oldRate: 1 });
    expect(run.restored).toEqual([0]);
  });

  it('carries its points, retries and scale through state() and restore()', () => {
    const { run, control } = fakeRun();
    const guard = new DivergenceGuard(options, control, { emit: () => undefined });
    guard.start();
    run.value = 1;
    guard.onEpochEnd(epoch(1, 10));
    guard.onEpochAccepted();
    guard.rollback({ epoch: 2, step: 2, loss: Number.NaN, reason: 'r', oldRate: 1 });
    const state = guard.state();
    const copy = new DivergenceGuard(options, fakeRun().control, { emit: () => undefined });
    copy.restore(state);
    tf.dispose(state.tensors);
    expect(copy.rateScale).toBe(0.5);
    expect(copy.state().values).toEqual(guard.state().values);
  });
});
