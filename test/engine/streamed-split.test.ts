import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTable, writeTable, type TableMeta } from '../../src/datasets/dataset-files.js';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import type { Dataset } from '../../src/engine/datasets/loader.js';
import { TrainingAbortedError, TrainingSpecError, type TrainingEvent } from '../../src/engine/events.js';
import { StreamedRows } from '../../src/engine/streamed-rows.js';
import type { JobSpecInput } from '../../src/spec/job-spec.js';
import { testBackend } from '../support/test-backend.js';
import { collectRun, resolveSpec, type CollectedRun } from '../support/training-run.js';

const ROWS = 300;
const FEATURES = 6;
const folder = mkdtempSync(path.join(os.tmpdir(), 'trainyard-streamed-'));
const meta: TableMeta = { name: 'streamed', featureSize: FEATURES, labelType: 'class', classes: 3 };

// Features far from 0 and of different scales, so standardize changes every value.
const features = Float32Array.from({ length: ROWS * FEATURES }, (_, i) => ((i * 7919) % 101) * (1 + (i % FEATURES)) + 50 * (i % FEATURES) + Math.sin(i));
const labels = Int32Array.from({ length: ROWS }, (_, row) => (features[row * FEATURES]! + features[row * FEATURES + 1]! > 160 ? 1 : 0) + (row % 7 === 0 ? 1 : 0));

let backend: SelectedBackend;
let inMemory: Dataset;
let streamed: Dataset;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
  await writeTable(folder, { featureNames: [], labelColumn: 'y', features, rows: ROWS, labelType: 'class', classNames: ['a', 'b', 'c'], labels });
  inMemory = readTable(folder, meta);
  // Any size is above 0 bytes: every feature row is read from the file.
  streamed = readTable(folder, meta, 0);
});
afterAll(() => rmSync(folder, { recursive: true, force: true }));

const specOf = (extra: Partial<JobSpecInput> = {}) =>
  resolveSpec({
    dataset: { name: 'upload', id: '01900000-0000-7000-8000-000000000024' },
    model: { layers: [{ type: 'dense', units: 12, activation: 'relu' }, { type: 'dropout', rate: 0.2 }, { type: 'dense', units: 3 }] },
    optimizer: 'adam',
    learningRate: 0.01,
    epochs: 3,
    // 210 training rows: the last batch of each epoch is a short one.
    batchSize: 32,
    validationSplit: 0.2,
    testSplit: 0.1,
    logEveryBatches: 1,
    seed: 24,
    preprocessing: { features: 'standardize' },
    diagnostics: { activationVariance: true },
    ...extra,
  } as JobSpecInput);

/** What must not depend on where the rows come from: every event but the timings and `started`'s source. */
function trajectory(run: CollectedRun): unknown[] {
  return run.events.flatMap((event: TrainingEvent): unknown[] => {
    if (event.type === 'started') return [{ ...event, streamed: undefined }];
    if (event.type === 'epochMetrics') return [{ epoch: event.epoch, step: event.step, values: event.values }];
    return [event];
  });
}

const finalWeights = (run: CollectedRun) => Array.from(new Float32Array(run.checkpoints.at(-1)!.model.weightData));

describe('a streamed upload', () => {
  it('keeps no features in memory and says in `started` where it reads them from', async () => {
    expect(streamed.features.length).toBe(0);
    expect(streamed.featureFile).toBe(path.join(folder, 'features.f32'));
    expect(inMemory.featureFile).toBeUndefined();
    const run = await collectRun(specOf({ epochs: 1 }), backend, { uploaded: streamed });
    expect(run.error).toBeUndefined();
    expect(run.events.find((e) => e.type === 'started')).toEqual(expect.objectContaining({ streamed: { dataset: 'streamed', file: 'features.f32', featureBytes: ROWS * FEATURES * 4 } }));
  });

  it('trains exactly as in memory: same batches, scaling, diagnostics, validation, test and weights', async () => {
    const spec = specOf();
    const [a, b] = [await collectRun(spec, backend, { uploaded: inMemory }), await collectRun(spec, backend, { uploaded: streamed })];
    expect(a.error).toBeUndefined();
    expect(b.error).toBeUndefined();
    expect(a.events.find((e) => e.type === 'started')).not.toHaveProperty('streamed');
    const last = b.events.filter((e) => e.type === 'epochMetrics').at(-1)!;
    expect(last.type === 'epochMetrics' && Object.keys(last.values)).toEqual(expect.arrayContaining(['val_loss', 'test_loss']));
    expect(b.events.some((e) => e.type === 'activationVariance')).toBe(true);
    expect(trajectory(b)).toEqual(trajectory(a));
    expect(b.checkpoints.at(-1)!.preprocessing).toEqual(a.checkpoints.at(-1)!.preprocessing);
    expect(finalWeights(b)).toEqual(finalWeights(a));
  });

  it('fits minMax scaling and trains without shuffle exactly as in memory', async () => {
    const spec = specOf({ preprocessing: { features: 'minMax' }, shuffle: false, epochs: 2 });
    const [a, b] = [await collectRun(spec, backend, { uploaded: inMemory }), await collectRun(spec, backend, { uploaded: streamed })];
    expect(b.error).toBeUndefined();
    expect(trajectory(b)).toEqual(trajectory(a));
    expect(finalWeights(b)).toEqual(finalWeights(a));
  });

  it("keeps an image archive's own validation and test rows, and trains a regression, exactly as in memory", async () => {
    const heldOut = { ...meta, heldOut: { validation: 30, test: 20 } };
    const held = specOf({ validationSplit: 0, testSplit: 0, epochs: 2 });
    const [a, b] = [await collectRun(held, backend, { uploaded: readTable(folder, heldOut) }), await collectRun(held, backend, { uploaded: readTable(folder, heldOut, 0) })];
    expect(b.error).toBeUndefined();
    expect(b.events.find((e) => e.type === 'started')).toMatchObject({ trainRows: 250, validationRows: 30, testRows: 20 });
    expect(trajectory(b)).toEqual(trajectory(a));

    const regressionFolder = mkdtempSync(path.join(os.tmpdir(), 'trainyard-streamed-regression-'));
    try {
      const targets = Float32Array.from({ length: ROWS }, (_, row) => features[row * FEATURES]! / 100 - features[row * FEATURES + 2]! / 300);
      await writeTable(regressionFolder, { featureNames: [], labelColumn: 'y', features, rows: ROWS, labelType: 'number', classNames: [], targets });
      const regressionMeta: TableMeta = { name: 'regression', featureSize: FEATURES, labelType: 'number', classes: 0 };
      const regression = specOf({ model: { layers: [{ type: 'dense', units: 8, activation: 'tanh' }, { type: 'dense', units: 1 }] }, epochs: 2 });
      const [c, d] = [
        await collectRun(regression, backend, { uploaded: readTable(regressionFolder, regressionMeta) }),
        await collectRun(regression, backend, { uploaded: readTable(regressionFolder, regressionMeta, 0) }),
      ];
      expect(d.error).toBeUndefined();
      expect(trajectory(d)).toEqual(trajectory(c));
      expect(finalWeights(d)).toEqual(finalWeights(c));
    } finally {
      rmSync(regressionFolder, { recursive: true, force: true });
    }
  });

  it('resumes from the middle of an epoch exactly', async () => {
    const spec = specOf();
    const straight = await collectRun(spec, backend, { uploaded: streamed });
    const first = await collectRun(spec, backend, { uploaded: streamed, stopAt: (e) => e.type === 'batchMetrics' && e.step === 10 });
    expect(first.error).toBeInstanceOf(TrainingAbortedError);
    const paused = first.checkpoints.at(-1)!;
    expect(paused.state.position).toEqual({ epoch: 2, batch: 3 });
    const second = await collectRun(spec, backend, { uploaded: streamed, resumeFrom: paused });
    expect(second.error).toBeUndefined();
    const batches = (run: CollectedRun) => run.events.filter((e) => e.type === 'batchMetrics');
    expect([...batches(first), ...batches(second)]).toEqual(batches(straight));
    expect(finalWeights(second)).toEqual(finalWeights(straight));
  });

  it('runs the learning-rate range test on the same rows as in memory', async () => {
    const spec = specOf({ task: 'lrRangeTest', lrRangeTest: { steps: 20 } });
    const [a, b] = [await collectRun(spec, backend, { uploaded: inMemory }), await collectRun(spec, backend, { uploaded: streamed })];
    expect(a.error).toBeUndefined();
    expect(b.error).toBeUndefined();
    expect(trajectory(b)).toEqual(trajectory(a));
  });

  it('refuses distributed training, whose threads share the whole training tensor', async () => {
    const run = await collectRun(specOf({ distributed: { strategy: 'sync', workers: 2 } }), backend, { uploaded: streamed });
    expect(run.error).toBeInstanceOf(TrainingSpecError);
    expect(String(run.error)).toMatch(/distributed training needs the training rows in memory/);
  });
});

describe('StreamedRows', () => {
  it('reads any rows, in any order, as the file holds them, the next batch while one is taken', async () => {
    const reader = await StreamedRows.open(path.join(folder, 'features.f32'), FEATURES, ROWS);
    try {
      const want = (rows: number[]) => rows.flatMap((row) => Array.from(features.subarray(row * FEATURES, (row + 1) * FEATURES)));
      const first = Int32Array.from([5, 6, 7, 299, 0, 1, 42]);
      const second = Int32Array.from([3, 2, 1]);
      reader.prefetch(first);
      reader.prefetch(second);
      expect(Array.from(await reader.take(first))).toEqual(want([...first]));
      expect(Array.from(await reader.take(second))).toEqual(want([...second]));
      await expect(reader.take(Int32Array.from([ROWS]))).rejects.toThrow(RangeError);
    } finally {
      await reader.close();
    }
  });

  it('closes only once the reads it started have finished, taken or not', async () => {
    const reader = await StreamedRows.open(path.join(folder, 'features.f32'), FEATURES, ROWS);
    const all = Int32Array.from({ length: ROWS }, (_, i) => (i * 37) % ROWS);
    reader.prefetch(all);
    const taken = reader.take(all.slice(0, 10));
    await reader.close();
    // The prefetch was dropped by the take, but had finished before the descriptor was closed.
    expect(Array.from(await taken)).toEqual(Array.from(all.slice(0, 10)).flatMap((row) => Array.from(features.subarray(row * FEATURES, (row + 1) * FEATURES))));
  });

  it('refuses a file whose size is not rows × features', async () => {
    const short = path.join(folder, 'short.f32');
    writeFileSync(short, new Uint8Array(10));
    await expect(StreamedRows.open(short, FEATURES, ROWS)).rejects.toThrow(/holds 10 bytes/);
  });
});
