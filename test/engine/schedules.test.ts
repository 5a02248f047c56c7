import { describe, expect, it } from 'vitest';
import { learningRateAt } from '../../src/engine/schedules.js';
import { addGradientNoise, clipByGlobalNorm, gradientNoiseStddev } from '../../src/engine/gradient-transforms.js';
import { rangeRate, suggestLearningRate } from '../../src/engine/lr-range-test.js';
import * as tf from '@tensorflow/tfjs';
import { resolveSchedule } from '../../src/spec/schedule-spec.js';

const clock = (step: number, epoch = 1, totalSteps = 1000) => ({ step, epoch, totalSteps });

describe('learning-rate schedules match their formulas', () => {
  it('constant', () => {
    expect(learningRateAt({ type: 'constant', initial: 0.1 }, clock(500))).toBe(0.1);
  });

  it('step: η₀ · factor^⌊(e−1)/k⌋', () => {
    const schedule = { type: 'step' as const, initial: 0.1, factor: 0.5, everyEpochs: 3 };
    expect([1, 3, 4, 6, 7, 10].map((epoch) => learningRateAt(schedule, clock(1, epoch)))).toEqual([0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]);
  });

  it('exponential: η₀ · decay^(t/k)', () => {
    const schedule = { type: 'exponential' as const, initial: 0.2, decay: 0.96, decaySteps: 100 };
    for (const t of [1, 50, 100, 250, 999]) expect(learningRateAt(schedule, clock(t))).toBeCloseTo(0.2 * 0.96 ** (t / 100), 15);
  });

  it('inverseTime: η₀ / (1 + d·t)', () => {
    const schedule = { type: 'inverseTime' as const, initial: 0.5, decay: 0.01 };
    for (const t of [1, 10, 100, 1000]) expect(learningRateAt(schedule, clock(t))).toBeCloseTo(0.5 / (1 + 0.01 * t), 15);
  });

  it('cosine: floor + (η₀ − floor)(1 + cos(πt/T))/2, reaching the floor at T', () => {
    const schedule = { type: 'cosine' as const, initial: 0.1, floor: 0.001 };
    expect(learningRateAt(schedule, clock(500, 1, 1000))).toBeCloseTo(0.001 + 0.099 * 0.5, 15);
    expect(learningRateAt(schedule, clock(250, 1, 1000))).toBeCloseTo(0.001 + (0.099 * (1 + Math.cos(Math.PI / 4))) / 2, 15);
    expect(learningRateAt(schedule, clock(1000, 1, 1000))).toBeCloseTo(0.001, 15);
  });

  it('warm-up multiplies any schedule by min(1, t/w)', () => {
    const warm = { type: 'exponential' as const, initial: 0.2, decay: 0.5, decaySteps: 10, warmupSteps: 20 };
    expect(learningRateAt(warm, clock(5))).toBeCloseTo(0.2 * 0.5 ** 0.5 * (5 / 20), 15);
    expect(learningRateAt(warm, clock(20))).toBeCloseTo(0.2 * 0.5 ** 2, 15);
    expect(learningRateAt(warm, clock(30))).toBeCloseTo(0.2 * 0.5 ** 3, 15);
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

  it('suggests the rate of steepest descent and reports the rate of the lowest loss', () => {
    // Flat, then a steep fall around η = 1e-2, a minimum near 1e-1, then a blow-up.
    const rates = Array.from({ length: 41 }, (_, i) => rangeRate(1e-5, 10, i, 41));
    const points = rates.map((learningRate) => {
      const x = Math.log10(learningRate);
      const smoothedLoss = 2 - 1.5 / (1 + Math.exp(-4 * (x + 2))) + (x > -1 ? 3 * (x + 1) ** 2 : 0);
      return { learningRate, loss: smoothedLoss, smoothedLoss };
    });
    const { suggested, minLoss } = suggestLearningRate(points);
    expect(Math.log10(suggested)).toBeCloseTo(-2, 0);
    expect(Math.log10(minLoss)).toBeGreaterThan(-1.5);
    expect(Math.log10(minLoss)).toBeLessThan(-0.5);
    expect(suggested).toBeLessThan(minLoss);
  });
});
