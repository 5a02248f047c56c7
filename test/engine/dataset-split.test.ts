import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { disposeSplit, splitDataset } from '../../src/engine/dataset-split.js';
import { loadDataset } from '../../src/engine/datasets/loader.js';
import type { JobSpecInput } from '../../src/spec/job-spec.js';
import { resolveSpec } from '../support/training-run.js';

const rowsOf = (t: tf.Tensor | null) => (t ? (t.arraySync() as number[][]) : []);

describe('splitting a data set', () => {
  const spec = (shuffle: boolean, extra: Partial<JobSpecInput> = {}) =>
    resolveSpec({
      dataset: { name: 'regression', rows: 20, coefficients: [1, 2] },
      model: { layers: [{ type: 'dense', units: 1 }] },
      loss: 'meanSquaredError',
      batchSize: 4,
      validationSplit: 0.2,
      testSplit: 0.1,
      shuffle,
      seed: 3,
      ...extra,
    });

  it('keeps the data set\'s row order without shuffle: train is the first rows, then validation, then test', () => {
    const input = spec(false);
    const dataset = loadDataset(input.dataset);
    const split = splitDataset(dataset, input);
    const original = Array.from({ length: dataset.rows }, (_, r) => Array.from(dataset.features.subarray(r * 2, r * 2 + 2)));
    expect(rowsOf(split.trainX)).toEqual(original.slice(0, 14));
    expect(rowsOf(split.valX)).toEqual(original.slice(14, 18));
    expect(rowsOf(split.testX)).toEqual(original.slice(18, 20));
    disposeSplit(split);
  });

  it('takes a data set\'s own validation and test rows (stored last) as they are, cutting only the missing one from the shuffled rest', () => {
    const input = spec(true);
    const generated = loadDataset(input.dataset);
    const original = Array.from({ length: generated.rows }, (_, r) => Array.from(generated.features.subarray(r * 2, r * 2 + 2)));
    // An image archive with val/ (rows 16 … 19) but no test/: the test fraction comes from the 16 train rows.
    const split = splitDataset({ ...generated, heldOut: { validation: 4, test: 0 } }, input);
    expect(rowsOf(split.valX)).toEqual(original.slice(16, 20));
    expect([split.trainRows, split.validationRows, split.testRows]).toEqual([15, 4, 1]);
    const pool = original.slice(0, 16).map(String);
    expect([...rowsOf(split.trainX), ...rowsOf(split.testX)].map(String).sort()).toEqual([...pool].sort());
    disposeSplit(split);
    const both = splitDataset({ ...generated, heldOut: { validation: 4, test: 2 } }, input);
    expect(rowsOf(both.valX)).toEqual(original.slice(14, 18));
    expect(rowsOf(both.testX)).toEqual(original.slice(18, 20));
    expect(both.trainRows).toBe(14);
    disposeSplit(both);
  });

  it('shuffles with the seed otherwise (the same seed, the same split)', () => {
    const input = spec(true);
    const dataset = loadDataset(input.dataset);
    const [a, b] = [splitDataset(dataset, input), splitDataset(dataset, input)];
    const original = Array.from({ length: dataset.rows }, (_, r) => Array.from(dataset.features.subarray(r * 2, r * 2 + 2)));
    expect(rowsOf(a.trainX)).toEqual(rowsOf(b.trainX));
    expect(rowsOf(a.trainX)).not.toEqual(original.slice(0, 14));
    disposeSplit(a);
    disposeSplit(b);
  });

  it('without shuffle, `limit` takes the first rows, and MNIST\'s fixed test set stays the same rows while the others keep their order', () => {
    const iris = resolveSpec({ dataset: { name: 'iris', limit: 50 }, model: { layers: [{ type: 'dense', units: 3 }] }, validationSplit: 0, shuffle: false, batchSize: 10 });
    const irisData = loadDataset(iris.dataset);
    const irisSplit = splitDataset(irisData, iris);
    expect(Array.from(irisSplit.trainX.dataSync())).toEqual(Array.from(irisData.features.subarray(0, 50 * 4)));
    disposeSplit(irisSplit);

    const mnist = (shuffle: boolean) =>
      resolveSpec({ dataset: { name: 'mnist', fixedTestSet: true, limit: 300 }, model: { layers: [{ type: 'dense', units: 10 }] }, validationSplit: 0, shuffle, batchSize: 10 });
    const data = loadDataset(mnist(false).dataset);
    const [ordered, shuffled] = [splitDataset(data, mnist(false)), splitDataset(data, mnist(true))];
    expect(Array.from(ordered.testX!.dataSync())).toEqual(Array.from(shuffled.testX!.dataSync()));
    // The first training rows are the set's first rows that are not in the fixed test set.
    const firstRow = Array.from(ordered.trainX.slice([0], [1]).dataSync());
    const index = Array.from({ length: data.rows }, (_, r) => r).find((r) => firstRow.every((v, k) => v === data.features[r * 784 + k]))!;
    expect(index).toBeLessThan(3);
    disposeSplit(ordered);
    disposeSplit(shuffled);
  });
});
