import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import { blobs, spirals, xor } from '../../src/engine/datasets/synthetic.js';
import type { Dataset } from '../../src/engine/datasets/dataset.js';
import { runTraining } from '../../src/engine/trainer.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend('wasm');
});

const counts = (labels: Int32Array, classes: number) => Array.from({ length: classes }, (_, c) => labels.filter((l) => l === c).length);

const labelsOf = (dataset: Dataset) => (dataset.target.kind === 'classes' ? dataset.target.labels : new Int32Array());
const classesOf = (dataset: Dataset) => (dataset.target.kind === 'classes' ? dataset.target.classes : 0);

describe('synthetic data sets', () => {
  it('are seeded: same parameters, same rows; another seed, other rows', () => {
    expect(xor(100, 0.1, 1).features).toEqual(xor(100, 0.1, 1).features);
    expect(xor(100, 0.1, 2).features).not.toEqual(xor(100, 0.1, 1).features);
    expect(spirals(90, 3, 0.1, 5).features).toEqual(spirals(90, 3, 0.1, 5).features);
    expect(blobs(60, 4, 5, 1, 9).features).toEqual(blobs(60, 4, 5, 1, 9).features);
  });

  it('have the documented shapes and balanced classes', () => {
    const s = spirals(300, 3, 0.1, 0);
    expect([s.rows, s.featureSize, classesOf(s), s.features.length]).toEqual([300, 2, 3, 600]);
    expect(counts(labelsOf(s), 3)).toEqual([100, 100, 100]);
    const b = blobs(100, 4, 7, 1, 0);
    expect([b.rows, b.featureSize, classesOf(b)]).toEqual([100, 7, 4]);
    expect(counts(labelsOf(b), 4)).toEqual([25, 25, 25, 25]);
  });

  it('xor without noise is labelled by the sign of x·y', () => {
    const d = xor(500, 0, 3);
    for (let i = 0; i < d.rows; i++) expect(labelsOf(d)[i]).toBe(d.features[2 * i]! * d.features[2 * i + 1]! > 0 ? 1 : 0);
    expect(Math.abs(counts(labelsOf(d), 2)[0]! - 250)).toBeLessThan(50);
  });

  it('blobs put each class around its own centre', () => {
    const d = blobs(400, 2, 2, 0.5, 4);
    const mean = (c: number, f: number) => {
      let sum = 0;
      for (let i = c; i < d.rows; i += 2) sum += d.features[i * 2 + f]!;
      return sum / (d.rows / 2);
    };
    const distance = Math.hypot(mean(0, 0) - mean(1, 0), mean(0, 1) - mean(1, 1));
    expect(distance).toBeGreaterThan(1);
  });
});

describe('what they are for', () => {
  const train = async (input: JobSpecInput) => (await runTraining(resolveJobSpec(jobSpecSchema.parse(input)), { emit: () => {} }, { backend })).finalMetrics;

  it('xor needs a hidden layer: a linear model stays near chance, one ReLU layer solves it', async () => {
    const base = { dataset: { name: 'xor' as const, rows: 800 }, epochs: 40, batchSize: 32, learningRate: 0.02, seed: 3 };
    const linear = await train({ ...base, model: { layers: [{ type: 'dense', units: 2 }] } });
    const hidden = await train({ ...base, model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 2 }] } });
    expect(linear.val_accuracy).toBeLessThan(0.7);
    expect(hidden.val_accuracy).toBeGreaterThan(0.85);
  });
});
