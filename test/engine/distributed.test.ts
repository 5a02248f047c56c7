import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import type { JobSpecInput } from '../../src/spec/job-spec.js';
import { collectRun, epochMetrics, resolveSpec } from '../support/training-run.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend('wasm');
});

const blobs = (extra: Partial<JobSpecInput> = {}): JobSpecInput => ({
  dataset: { name: 'blobs', rows: 480, features: 8, classes: 3, spread: 2 },
  model: { layers: [{ type: 'dense', units: 16, activation: 'tanh' }, { type: 'dense', units: 3 }] },
  epochs: 2,
  batchSize: 24,
  seed: 5,
  logEveryBatches: 0,
  regularization: { l2: 0.001 },
  ...extra,
});

const finalWeights = (run: Awaited<ReturnType<typeof collectRun>>) => Array.from(new Float32Array(run.checkpoints.at(-1)!.model.weightData));

describe('synchronous data-parallel SGD', () => {
  it.each(['sgd', 'adam'] as const)('with no backups, N threads equal one worker with batch N·B (%s)', async (optimizer) => {
    const distributed = await collectRun(resolveSpec(blobs({ optimizer, batchSize: 24, distributed: { strategy: 'sync', workers: 2 } })), backend);
    expect(distributed.error).toBeUndefined();
    const single = await collectRun(resolveSpec(blobs({ optimizer, batchSize: 48 })), backend);
    const a = finalWeights(distributed);
    const b = finalWeights(single);
    expect(a).toHaveLength(b.length);
    a.forEach((w, i) => expect(w).toBeCloseTo(b[i]!, 4));
    expect(epochMetrics(distributed).at(-1)!.loss).toBeCloseTo(epochMetrics(single).at(-1)!.loss!, 4);
  });
});
