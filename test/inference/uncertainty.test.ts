import { describe, expect, it } from 'vitest';
import { ClassificationUncertainty, RegressionUncertainty } from '../../src/inference/uncertainty.js';

const block = (firstRow: number, values: number[][]) => ({ firstRow, rows: values.length, values: Float32Array.from(values.flat()) });
const H = (p: number[]) => -p.reduce((sum, v) => sum + (v > 0 ? v * Math.log(v) : 0), 0);

describe('ClassificationUncertainty', () => {
  it('separates disagreement between passes (mutual information) from agreement on an unsure answer (expected entropy)', () => {
    // Input 0: two confident passes that disagree. Input 1: two passes that agree on 50/50.
    const summary = new ClassificationUncertainty(2, 2, [2]);
    summary.add(block(0, [[1, 0], [0, 1], [0.5, 0.5]]));
    summary.add(block(3, [[0.5, 0.5]]));
    const disagree = summary.result(0);
    expect(disagree.probabilities).toEqual([0.5, 0.5]);
    expect(disagree.predictiveEntropy).toBeCloseTo(Math.log(2), 12);
    expect(disagree.expectedEntropy).toBe(0);
    expect(disagree.mutualInformation).toBeCloseTo(Math.log(2), 12);
    const unsure = summary.result(1);
    expect(unsure.predictiveEntropy).toBeCloseTo(Math.log(2), 12);
    expect(unsure.expectedEntropy).toBeCloseTo(Math.log(2), 12);
    expect(unsure.mutualInformation).toBe(0);
  });

  it('matches the formulas on three classes and three passes, in float64', () => {
    const passes = [
      [0.7, 0.2, 0.1],
      [0.1, 0.8, 0.1],
      [0.3, 0.3, 0.4],
    ];
    const summary = new ClassificationUncertainty(1, 3, [3]);
    summary.add(block(0, passes));
    const f32 = passes.map((p) => p.map((v) => Math.fround(v)));
    const mean = [0, 1, 2].map((k) => (f32[0]![k]! + f32[1]![k]! + f32[2]![k]!) / 3);
    const result = summary.result(0);
    expect(result.probabilities).toEqual(mean);
    expect(result.predictiveEntropy).toBeCloseTo(H(mean), 12);
    expect(result.expectedEntropy).toBeCloseTo(f32.map(H).reduce((a, b) => a + b) / 3, 12);
    expect(result.mutualInformation).toBeCloseTo(H(mean) - f32.map(H).reduce((a, b) => a + b) / 3, 12);
  });

  it('reads one sigmoid unit as P(class 1), and a class per step per position', () => {
    const binary = new ClassificationUncertainty(1, 2, [1]);
    binary.add(block(0, [[0.75], [0.25]]));
    expect(binary.result(0).probabilities).toEqual([0.5, 0.5]);
    expect(binary.result(0).mutualInformation).toBeCloseTo(Math.log(2) - H([0.25, 0.75]), 6);

    const steps = new ClassificationUncertainty(1, 2, [2, 2]);
    steps.add(block(0, [[1, 0, 1, 0], [1, 0, 0, 1]]));
    const result = steps.result(0);
    expect(result.probabilities).toEqual([[1, 0], [0.5, 0.5]]);
    expect(result.mutualInformation).toEqual([0, Math.log(2)]);
  });
});

describe('RegressionUncertainty', () => {
  it('gives the mean and the variance (1/T) of the passes, per output value, across blocks', () => {
    const summary = new RegressionUncertainty(2, 4, [2]);
    summary.add(block(0, [[1, 10], [3, 10], [5, 10]]));
    summary.add(block(3, [[7, 10], [2, 0], [2, 0], [2, 0], [2, 0]]));
    expect(summary.result(0)).toEqual({ values: [4, 10], variance: [5, 0] });
    expect(summary.result(1)).toEqual({ values: [2, 0], variance: [0, 0] });
  });

  it('keeps small variances around a large mean (no cancellation) and nests sequence outputs', () => {
    const summary = new RegressionUncertainty(1, 2, [2, 1]);
    summary.add(block(0, [[1e6, 1], [1e6 + 0.5, 3]]));
    expect(summary.result(0)).toEqual({ values: [[1e6 + 0.25], [2]], variance: [[0.0625], [1]] });
  });
});
