import { describe, expect, it } from 'vitest';
import { learningRateAt } from '../../src/engine/schedules.js';
import { addGradientNoise, clipByGlobalNorm, gradientNoiseStddev } from '../../src/engine/gradient-transforms.js';
import { centredAverage, rangeCandidates, rangeRate } from '../../src/engine/lr-range-test.js';
import * as tf from '@tensorflow/tfjs';
import { resolveSchedule } from '../../src/spec/schedule-spec.js';

/** Step t (1-based) of epoch e, in a phase of `phaseSteps` steps and `phaseEpochs` epochs. */
const clock = (step: number, epoch = 1, phaseSteps = 1000, phaseEpochs = 10) => ({ step, epoch, phaseSteps, phaseEpochs });

describe('learning-rate schedules match their formulas (i counts the steps or epochs done)', () => {
  it('constant', () => {
    expect(learningRateAt({ type: 'constant', initial: 0.1 }, clock(500))).toBe(0.1);
  });

  it('step: η₀ · γ^⌊i/k⌋, counting epochs or steps', () => {
    const byEpoch = { type: 'step' as const, initial: 0.1, factor: 0.5, everyEpochs: 3 };
    expect([1, 3, 4, 6, 7, 10].map((epoch) => learningRateAt(byEpoch, clock(1, epoch)))).toEqual([0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]);
    const byStep = { type: 'step' as const, initial: 0.1, factor: 0.5, everySteps: 10 };
    expect([1, 10, 11, 21].map((step) => learningRateAt(byStep, clock(step)))).toEqual([0.1, 0.1, 0.05, 0.025]);
  });

  it('exponential: η₀ · γ^(i/k); the first step trains at η₀', () => {
    const schedule = { type: 'exponential' as const, initial: 0.2, decay: 0.96, decaySteps: 100 };
    for (const t of [1, 50, 100, 250, 999]) expect(learningRateAt(schedule, clock(t))).toBeCloseTo(0.2 * 0.96 ** ((t - 1) / 100), 15);
  });

  it('inverseTime: η₀ / (1 + d·i)', () => {
    const schedule = { type: 'inverseTime' as const, initial: 0.5, decay: 0.01 };
    for (const t of [1, 10, 100, 1000]) expect(learningRateAt(schedule, clock(t))).toBeCloseTo(0.5 / (1 + 0.01 * (t - 1)), 15);
  });

  it('cosine: η_min + (η₀ − η_min)(1 + cos(πi/T))/2, whose last step still trains above η_min', () => {
    const schedule = { type: 'cosine' as const, initial: 0.1, floor: 0.001 };
    expect(learningRateAt(schedule, clock(1, 1, 1000))).toBeCloseTo(0.1, 15);
    expect(learningRateAt(schedule, clock(501, 1, 1000))).toBeCloseTo(0.001 + 0.099 * 0.5, 15);
    expect(learningRateAt(schedule, clock(251, 1, 1000))).toBeCloseTo(0.001 + (0.099 * (1 + Math.cos(Math.PI / 4))) / 2, 15);
    expect(learningRateAt({ type: 'cosine', initial: 0.1, floor: 0 }, clock(1000, 1, 1000))).toBeGreaterThan(0);
  });

  it('warm-up is a phase: η₀(s + (1 − s) i/W) for i < W, then the decay starts at η₀', () => {
    const warm = { type: 'cosine' as const, initial: 0.05, floor: 0, warmupSteps: 10 };
    expect(learningRateAt(warm, clock(1, 1, 100))).toBeCloseTo(0.005, 15);
    expect(learningRateAt(warm, clock(10, 1, 100))).toBeCloseTo(0.05 * (0.1 + 0.9 * 0.9), 15);
    // The peak is η₀ itself (the decay's first step), not a point inside a cosine spanning the run.
    expect(learningRateAt(warm, clock(11, 1, 100))).toBe(0.05);
    const rates = Array.from({ length: 100 }, (_, i) => learningRateAt(warm, clock(i + 1, 1, 100)));
    expect(Math.max(...rates)).toBe(0.05);
    expect(rates.at(-1)).toBeGreaterThan(0);
    const started = { type: 'exponential' as const, initial: 0.2, decay: 0.5, decaySteps: 10, warmupSteps: 20, warmupStartFactor: 0.5 };
    expect(learningRateAt(started, clock(1))).toBeCloseTo(0.1, 15);
    expect(learningRateAt(started, clock(21))).toBeCloseTo(0.2, 15);
    expect(learningRateAt(started, clock(31))).toBeCloseTo(0.1, 15);
  });

  it('a schedule without η₀ takes the fallback; a number is a constant schedule', () => {
    expect(resolveSchedule({ type: 'cosine', floor: 0 }, 0.3)).toEqual({ type: 'cosine', floor: 0, initial: 0.3 });
    expect(resolveSchedule(0.02, 0.3)).toEqual({ type: 'constant', initial: 0.02 });
    expect(resolveSchedule(undefined, 0.3)).toEqual({ type: 'constant', initial: 0.3 });
  });
});

describe('gradient transforms', () => {
  it('clips by global norm like clip_grad_norm_ and leaves small gradients alone', () => {
    const big = [tf.tensor1d([3, 4]), tf.tensor1d([12])]; // global norm 13
    const clipped = clipByGlobalNorm(big, 1);
    const values = clipped.flatMap((g) => Array.from(g.dataSync()));
    const coefficient = 1 / (13 + 1e-6);
    values.forEach((v, i) => expect(v).toBeCloseTo([3, 4, 12][i]! * coefficient, 6));
    const small = clipByGlobalNorm(big, 20).flatMap((g) => Array.from(g.dataSync()));
    expect(small).toEqual([3, 4, 12]);
    tf.dispose([...big, ...clipped]);
  });

  it('noise has σ² = η/(1+t)^γ and the same seed gives the same noise', () => {
    expect(gradientNoiseStddev(0.3, 0.55, 9) ** 2).toBeCloseTo(0.3 / 10 ** 0.55, 12);
    const zero = [tf.zeros([200_000])];
    const a = addGradientNoise(zero, { eta: 1, gamma: 0.55, step: 3, seed: 11 });
    const b = addGradientNoise(zero, { eta: 1, gamma: 0.55, step: 3, seed: 11 });
    const c = addGradientNoise(zero, { eta: 1, gamma: 0.55, step: 4, seed: 11 });
    expect(Array.from(a[0]!.dataSync())).toEqual(Array.from(b[0]!.dataSync()));
    expect(Array.from(a[0]!.dataSync())).not.toEqual(Array.from(c[0]!.dataSync()));
    const values = Array.from(a[0]!.dataSync());
    const variance = values.reduce((sum, v) => sum + v * v, 0) / values.length;
    expect(variance).toBeGreaterThan(0.95 * (1 / 4 ** 0.55));
    expect(variance).toBeLessThan(1.05 * (1 / 4 ** 0.55));
    tf.dispose([...zero, ...a, ...b, ...c]);
  });
});

describe('learning-rate range test', () => {
  it('sweeps exponentially from min to max', () => {
    expect(rangeRate(1e-5, 1, 0, 11)).toBeCloseTo(1e-5, 15);
    expect(rangeRate(1e-5, 1, 5, 11)).toBeCloseTo(10 ** -2.5, 12);
    expect(rangeRate(1e-5, 1, 10, 11)).toBeCloseTo(1, 12);
  });

  it('smooths without lag: a centred average keeps a step where it is', () => {
    const step = [...new Array<number>(20).fill(1), ...new Array<number>(20).fill(0)];
    const smoothed = centredAverage(step, 3);
    expect(smoothed[19]! + smoothed[20]!).toBeCloseTo(1, 12);
    expect(smoothed[16]).toBe(1);
    expect(smoothed[23]).toBe(0);
  });

  it('offers rates from the steepest descent up to the lowest loss for trials', () => {
    // Flat, then a steep fall around η = 1e-2, a minimum near 1e-1, then a blow-up.
    const rates = Array.from({ length: 41 }, (_, i) => rangeRate(1e-5, 10, i, 41));
    const points = rates.map((learningRate) => {
      const x = Math.log10(learningRate);
      const smoothedLoss = 2 - 1.5 / (1 + Math.exp(-4 * (x + 2))) + (x > -1 ? 3 * (x + 1) ** 2 : 0);
      return { learningRate, loss: smoothedLoss, smoothedLoss };
    });
    const { candidates, minLoss, steepest } = rangeCandidates(points);
    expect(Math.log10(steepest!)).toBeCloseTo(-2, 0);
    expect(Math.log10(minLoss)).toBeGreaterThan(-1.5);
    expect(Math.log10(minLoss)).toBeLessThan(-0.5);
    expect(candidates[0]).toBe(minLoss);
    expect(candidates.at(-1)).toBeCloseTo(steepest!, 12);
    for (let k = 1; k < candidates.length; k++) expect(candidates[k]!).toBeLessThan(candidates[k - 1]!);
  });
});
