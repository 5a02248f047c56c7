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

type DistributedEvent = Extract<Awaited<ReturnType<typeof collectRun>>['events'][number], { type: 'distributed' }>;
const distributedEvents = (run: Awaited<ReturnType<typeof collectRun>>) => run.events.filter((e): e is DistributedEvent => e.type === 'distributed');

describe('strategies', () => {
  it('sync with a backup worker averages the first gradient of each step and counts the straggler as dropped', async () => {
    const run = await collectRun(resolveSpec(blobs({ optimizer: 'adam', learningRate: 0.02, epochs: 3, distributed: { strategy: 'sync', workers: 1, backupWorkers: 1 } })), backend, {
      faults: { delayMs: (thread) => (thread === 1 ? 200 : 0) },
    });
    expect(run.error).toBeUndefined();
    const threads = distributedEvents(run).flatMap((e) => e.threads);
    const total = (thread: number, key: 'steps' | 'dropped') => threads.filter((t) => t.thread === thread).reduce((sum, t) => sum + t[key], 0);
    // 3 epochs of 8 steps: the slow thread's gradient is the one left out (barring a 200 ms stall of the other).
    expect(total(0, 'steps')).toBeGreaterThanOrEqual(22);
    expect(total(0, 'steps') + total(1, 'steps')).toBe(24);
    expect(total(1, 'dropped')).toBeGreaterThan(0);
    expect(epochMetrics(run).at(-1)!.val_accuracy).toBeGreaterThan(0.8);
  });

  it('async rejects gradients staler than maxStaleness, deterministically for a slow thread', async () => {
    const run = await collectRun(resolveSpec(blobs({ optimizer: 'adam', learningRate: 0.02, epochs: 2, distributed: { strategy: 'async', workers: 2, maxStaleness: 0 } })), backend, {
      faults: { delayMs: (thread) => (thread === 1 ? 200 : 0) },
    });
    expect(run.error).toBeUndefined();
    const threads = distributedEvents(run).flatMap((e) => e.threads);
    const slow = threads.filter((t) => t.thread === 1);
    const fast = threads.filter((t) => t.thread === 0);
    expect(slow.reduce((sum, t) => sum + t.rejected, 0)).toBeGreaterThan(0);
    expect(fast.reduce((sum, t) => sum + t.rejected, 0)).toBe(0);
    // Every applied gradient was fresh.
    for (const t of threads) expect(Object.keys(t.staleness).filter((k) => Number(k) > 0 && t.thread === 0)).toEqual([]);
    // The histogram is of the gradients applied, as documented: each used one once, no rejected one (all staler than 0 here).
    for (const t of threads) expect(Object.values(t.staleness).reduce((sum, count) => sum + count, 0), `thread ${t.thread}`).toBe(t.steps);
    for (const t of threads) expect(Object.keys(t.staleness).every((k) => Number(k) <= 0), `thread ${t.thread}`).toBe(true);
    expect(epochMetrics(run).at(-1)!.val_accuracy).toBeGreaterThan(0.8);
  });

  it('async ramps up: one thread first, another once everySteps updates are applied', async () => {
    // Two epochs: on a loaded machine thread 0 can finish the first epoch before thread 1 has joined.
    const run = await collectRun(resolveSpec(blobs({ optimizer: 'adam', learningRate: 0.02, epochs: 2, distributed: { strategy: 'async', workers: 2, maxStaleness: 8, rampUp: { everySteps: 5 } } })), backend);
    expect(run.error).toBeUndefined();
    const epochs = distributedEvents(run);
    expect(epochs[0]!.threads[0]!.firstStep, JSON.stringify(epochs[0]!.threads)).toBe(1);
    const joined = epochs.map((epoch) => epoch.threads[1]!.firstStep).find((step) => step !== null);
    expect(joined, JSON.stringify(epochs.map((epoch) => epoch.threads))).toBeGreaterThan(5);
  });

  it('hogwild threads update the shared weights themselves and the model learns', async () => {
    const run = await collectRun(resolveSpec(blobs({ optimizer: 'sgd', learningRate: 0.1, epochs: 4, distributed: { strategy: 'hogwild', workers: 2 } })), backend);
    expect(run.error).toBeUndefined();
    expect(epochMetrics(run).at(-1)!.val_accuracy).toBeGreaterThan(0.8);
    expect(distributedEvents(run).at(-1)!.threads.every((t) => t.steps > 0)).toBe(true);
  });
});

describe('faults', () => {
  it('async carries on without a thread that failed, and says so', async () => {
    const run = await collectRun(resolveSpec(blobs({ optimizer: 'adam', learningRate: 0.02, epochs: 2, distributed: { strategy: 'async', workers: 2 } })), backend, {
      faults: { crash: { thread: 1, atStep: 3 } },
    });
    expect(run.error).toBeUndefined();
    expect(run.events.find((e) => e.type === 'threadFailed')).toMatchObject({ thread: 1, remaining: 1 });
    expect(distributedEvents(run).at(-1)!.threads[1]!.steps).toBe(0);
  });

  it('sync without enough threads left fails cleanly, and the job resumes from its checkpoint', async () => {
    const spec = resolveSpec(blobs({ optimizer: 'adam', learningRate: 0.02, epochs: 3, distributed: { strategy: 'sync', workers: 2 } }));
    const failed = await collectRun(spec, backend, { faults: { crash: { thread: 1, atStep: 15 } } });
    expect(String(failed.error)).toMatch(/only 1 training threads are left and a sync step needs 2 gradients/);
    const checkpoint = failed.checkpoints.at(-1)!;
    expect(checkpoint.state.completedEpochs).toBe(1);
    const resumed = await collectRun(spec, backend, { resumeFrom: checkpoint });
    expect(resumed.error).toBeUndefined();
    // Sync steps are deterministic: the resumed run ends where an uninterrupted one does.
    const straight = await collectRun(spec, backend);
    finalWeights(resumed).forEach((w, i) => expect(w).toBeCloseTo(finalWeights(straight)[i]!, 5));
  });
});

describe('parameter shards', () => {
  it('partition the weights into contiguous shards of about equal size', async () => {
    const { ShardedOptimizer } = await import('../../src/engine/distributed/sharded-optimizer.js');
    expect(ShardedOptimizer.partition([100, 10, 100, 10], 2)).toEqual([[0, 1], [2, 3]]);
    expect(ShardedOptimizer.partition([5, 5, 5], 5)).toEqual([[0], [1], [2]]);
    expect(ShardedOptimizer.partition([8, 1, 1], 2)).toEqual([[0], [1, 2]]);
  });

  it('async with shards trains, and a checkpoint holds every shard\'s optimizer state for an exact-state resume', async () => {
    const spec = resolveSpec(blobs({ optimizer: 'adam', learningRate: 0.02, epochs: 3, distributed: { strategy: 'async', workers: 2, parameterShards: 2 } }));
    const run = await collectRun(spec, backend);
    expect(run.error).toBeUndefined();
    expect(epochMetrics(run).at(-1)!.val_accuracy).toBeGreaterThan(0.8);
    const checkpoint = run.checkpoints.at(-1)!;
    const slots = checkpoint.state.optimizer.slots.map((slot) => slot.name);
    expect(slots).toEqual(expect.arrayContaining(['s0/m', 's0/v', 's0/step', 's1/m', 's1/v', 's1/step']));
    const paused = await collectRun(spec, backend, { stopAt: (event) => event.type === 'epochMetrics' && event.epoch === 1 });
    const resumed = await collectRun(spec, backend, { resumeFrom: paused.checkpoints.at(-1)! });
    expect(resumed.error).toBeUndefined();
    expect(resumed.events.find((e) => e.type === 'resumed')).toBeDefined();
  });
});
