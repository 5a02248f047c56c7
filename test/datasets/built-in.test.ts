import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { builtInDatasets } from '../../src/engine/datasets/catalog.js';
import { loadBuiltInDataset } from '../../src/engine/datasets/loader.js';
import { splitDataset } from '../../src/engine/dataset-split.js';
import { resolveSpec } from '../support/training-run.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

describe('built-in data sets', () => {
  it.each(Object.values(builtInDatasets))('$name loads with its documented shape and classes', (info) => {
    const dataset = loadBuiltInDataset(info.name);
    expect([dataset.rows, dataset.featureSize]).toEqual([info.rows, info.featureShape[0]]);
    expect(dataset.target.kind).toBe('classes');
    if (dataset.target.kind !== 'classes') return;
    expect(dataset.target.classes).toBe(info.classes);
    // Every class occurs, and nothing outside them.
    expect(new Set(dataset.target.labels).size).toBe(info.classes);
    expect(Math.max(...dataset.target.labels)).toBe(info.classes - 1);
    // Loaded once per process.
    expect(loadBuiltInDataset(info.name)).toBe(dataset);
  });

  it('mnist pixels are in [0, 1] and come as 28×28×1 images on request', () => {
    const dataset = loadBuiltInDataset('mnist');
    let min = Infinity;
    let max = -Infinity;
    for (const v of dataset.features) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect([min, max]).toEqual([0, 1]);
    const split = splitDataset(dataset, resolveSpec({ dataset: { name: 'mnist', shape: 'image', limit: 100 }, model: { layers: [{ type: 'flatten' }, { type: 'dense', units: 10 }] }, seed: 1 }));
    expect(split.trainX.shape).toEqual([80, 28, 28, 1]);
    expect(split.trainY.shape).toEqual([80, 10]);
  });
});
