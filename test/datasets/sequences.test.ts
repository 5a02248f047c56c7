import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import { splitDataset } from '../../src/engine/dataset-split.js';
import { loadDataset } from '../../src/engine/datasets/loader.js';
import { addingProblem, copyTask, linearRegression, sineForecast } from '../../src/engine/datasets/sequences.js';
import { describeDataset, MNIST_FIXED_TEST_ROWS } from '../../src/spec/dataset-spec.js';
import { jobSpecSchema, type JobSpecInput } from '../../src/spec/job-spec.js';
import { collectRun, epochMetrics, resolveSpec } from '../support/training-run.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend('wasm');
});

describe('sequence and regression sets', () => {
  it('adding problem: [value, marker] steps, two markers (one per half), the target their sum', () => {
    const d = addingProblem(50, 20, 3);
    expect(d.inputShape).toEqual([20, 2]);
    expect(d.target.kind === 'values' && d.target.shape).toEqual([1]);
    const values = d.target.kind === 'values' ? d.target.values : new Float32Array();
    for (let r = 0; r < d.rows; r++) {
      const marked: number[] = [];
      for (let t = 0; t < 20; t++) if (d.features[(r * 20 + t) * 2 + 1] === 1) marked.push(t);
      expect(marked).toHaveLength(2);
      expect(marked[0]).toBeLessThan(10);
      expect(marked[1]).toBeGreaterThanOrEqual(10);
      const sum = marked.reduce((s, t) => s + d.features[(r * 20 + t) * 2]!, 0);
      expect(values[r]).toBeCloseTo(sum, 5);
    }
    expect(addingProblem(10, 20, 3).features).toEqual(addingProblem(10, 20, 3).features);
  });

  it('copy task: symbols, blanks, the delimiter; the target repeats the symbols after it', () => {
    const d = copyTask(5, 8, 4, 6, 'tokens', 1);
    const steps = 2 * 4 + 6;
    expect(d.inputShape).toEqual([steps]);
    const labels = d.target.kind === 'classes' ? d.target.labels : new Int32Array();
    expect(d.target.kind === 'classes' && [d.target.classes, d.target.steps]).toEqual([9, steps]);
    for (let r = 0; r < d.rows; r++) {
      const input = Array.from(d.features.subarray(r * steps, (r + 1) * steps));
      const target = Array.from(labels.subarray(r * steps, (r + 1) * steps));
      const symbols = input.slice(0, 4);
      expect(symbols.every((s) => s >= 1 && s <= 8)).toBe(true);
      expect(input[4 + 6 - 1]).toBe(9);
      expect(input.slice(4, 9).every((s) => s === 0)).toBe(true);
      expect(target.slice(0, 10).every((s) => s === 0)).toBe(true);
      expect(target.slice(10)).toEqual(symbols);
    }
    // One-hot inputs carry the same tokens.
    const oneHot = copyTask(5, 8, 4, 6, 'oneHot', 1);
    expect(oneHot.inputShape).toEqual([steps, 10]);
    const tokens = tf.tidy(() => tf.argMax(tf.tensor(oneHot.features, [5, steps, 10]), -1).dataSync());
    expect(Array.from(tokens)).toEqual(Array.from(d.features));
  });

  it('sine forecasting: the target continues the observed wave', () => {
    const d = sineForecast(20, 30, 3, 0, 5);
    expect(d.inputShape).toEqual([30, 1]);
    const values = d.target.kind === 'values' ? d.target.values : new Float32Array();
    for (let r = 0; r < d.rows; r++) {
      // Without noise the series is smooth: the first target is close to a linear extrapolation.
      const a = d.features[r * 30 + 28]!;
      const b = d.features[r * 30 + 29]!;
      expect(Math.abs(values[r * 3]! - (2 * b - a))).toBeLessThan(0.3);
      expect(Math.abs(values[r * 3]!)).toBeLessThanOrEqual(1.5);
    }
  });

  it('regression: a linear model trained on it recovers the known coefficients and intercept', async () => {
    expect(linearRegression(10, [1, 2], 0, 0, 1).features).toHaveLength(20);
    const spec = resolveSpec({
      dataset: { name: 'regression', rows: 800, coefficients: [2, -3, 0.5], intercept: 1, noise: 0.05 },
      model: { layers: [{ type: 'dense', units: 1 }] },
      optimizer: 'adam',
      learningRate: 0.1,
      epochs: 30,
      batchSize: 32,
      seed: 1,
      logEveryBatches: 0,
    });
    expect(spec.loss).toBe('meanSquaredError');
    const run = await collectRun(spec, backend);
    expect(run.error).toBeUndefined();
    const last = epochMetrics(run).at(-1)!;
    expect(last.val_loss).toBeLessThan(0.01);
    expect(last.val_mae).toBeLessThan(0.1);
    expect(last.accuracy).toBeUndefined();
    const weights = new Float32Array(run.checkpoints.at(-1)!.model.weightData);
    expect(Array.from(weights).map((w) => Number(w.toFixed(1)))).toEqual([2, -3, 0.5, 1]);
  });
});

describe('MNIST fixed test set', () => {
  it('holds out the same 2 000 rows whatever the job seed, and rejects testSplit beside it', () => {
    const base: JobSpecInput = {
      dataset: { name: 'mnist', fixedTestSet: true, limit: 1000 },
      model: { layers: [{ type: 'dense', units: 10 }] },
      validationSplit: 0.1,
      epochs: 1,
    };
    const dataset = loadDataset(jobSpecSchema.parse(base).dataset);
    const a = splitDataset(dataset, resolveSpec({ ...base, seed: 1 }));
    const b = splitDataset(dataset, resolveSpec({ ...base, seed: 2 }));
    expect([a.trainRows, a.validationRows, a.testRows]).toEqual([900, 100, MNIST_FIXED_TEST_ROWS]);
    // Byte comparisons: expect's deep equality crawls over a million-element array.
    const bytes = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).buffer);
    expect(bytes(a.testX!).equals(bytes(b.testX!))).toBe(true);
    expect(bytes(a.trainX).equals(bytes(b.trainX))).toBe(false);
    expect(describeDataset(jobSpecSchema.parse(base).dataset)?.fixedTestRows).toBe(MNIST_FIXED_TEST_ROWS);
    const rejected = jobSpecSchema.safeParse({ ...base, testSplit: 0.1 });
    expect(rejected.success).toBe(false);
    expect(rejected.error?.issues.map((issue) => issue.path.join('.'))).toContain('testSplit');
  });
});
