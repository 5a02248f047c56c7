import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import type { TrainingEvent } from '../../src/engine/events.js';
import type { JobSpecInput } from '../../src/spec/job-spec.js';
import { testBackend } from '../support/test-backend.js';
import { collectRun, epochMetrics, resolveSpec } from '../support/training-run.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

/**
 * The case: 32 rows of a noisy linear regression, one linear unit from zero, MSE, SGD.
 * Full batch, the stability limit is a rate of about 1: 1.2 diverges, 0.6 converges.
 */
const regression = (overrides: Partial<JobSpecInput>): JobSpecInput => ({
  dataset: { name: 'regression', rows: 32 },
  model: { layers: [{ type: 'dense', units: 1, kernelInitializer: 'zeros' }] },
  loss: 'meanSquaredError',
  optimizer: 'sgd',
  validationSplit: 0,
  batchSize: 32,
  epochs: 20,
  seed: 1,
  logEveryBatches: 1,
  ...overrides,
});

type Divergence = Extract<TrainingEvent, { type: 'divergence' }>;
const divergences = (events: TrainingEvent[]) => events.filter((e): e is Divergence => e.type === 'divergence');
const batchRates = (events: TrainingEvent[]) => events.flatMap((e) => (e.type === 'batchMetrics' ? [[e.step, e.values.learning_rate!] as const] : []));
const finalWeights = (run: Awaited<ReturnType<typeof collectRun>>) => new Float32Array(run.checkpoints.find((c) => c.reason === 'final')!.model.weightData);

describe('divergence recovery (regressions of issue 20)', () => {
  it('recovers from twice a rate that trains: one halving from 1.2 to 0.6, the retried steps at 0.6, then it converges as 0.6 does', async () => {
    const high = await collectRun(resolveSpec(regression({ learningRate: 1.2, divergence: { maxRetries: 3 } })), backend);
    expect(high.error).toBeUndefined();
    const halvings = divergences(high.events);
    expect(halvings.map((e) => [e.oldLearningRate, e.newLearningRate])).toEqual([[1.2, 0.6]]);
    // Every step from the rollback on trains at the halved rate.
    const after = batchRates(high.events.slice(high.events.indexOf(halvings[0]!)));
    expect(after.length).toBeGreaterThan(0);
    expect(after.every(([, rate]) => rate === 0.6)).toBe(true);
    const scratch = await collectRun(resolveSpec(regression({ learningRate: 0.6 })), backend);
    const [highLoss, scratchLoss] = [high, scratch].map((run) => epochMetrics(run).at(-1)!.loss!);
    expect(highLoss).toBeLessThan(0.02);
    expect(highLoss).toBeLessThan(1.1 * scratchLoss!);
  });

  it('never retries from weights that already hold the diverged step: at rate 10 each halving meets a new loss, and 0.625 trains', async () => {
    const run = await collectRun(resolveSpec(regression({ learningRate: 10, divergence: { maxRetries: 8 } })), backend);
    expect(run.error).toBeUndefined();
    const halvings = divergences(run.events);
    expect(halvings.map((e) => e.oldLearningRate)).toEqual([10, 5, 2.5, 1.25]);
    expect(new Set(halvings.map((e) => `${e.step}:${e.loss}`)).size).toBe(halvings.length);
    expect(epochMetrics(run).at(-1)!.loss).toBeLessThan(0.05);
  });

  it('does not take noise near a small loss for divergence: converging runs at batch 8 end without a halving', async () => {
    for (const [noise, rate, seed] of [
      [0, 0.6, 1],
      [0, 0.6, 2],
      [0, 0.3, 1],
      [0.1, 0.3, 1],
      [0.1, 0.3, 2],
    ] as const) {
      const run = await collectRun(
        resolveSpec(regression({ dataset: { name: 'regression', rows: 32, noise }, batchSize: 8, learningRate: rate, epochs: 60, seed, logEveryBatches: 10, divergence: {} })),
        backend,
      );
      expect(run.error, `noise ${noise}, rate ${rate}, seed ${seed}`).toBeUndefined();
      expect(divergences(run.events), `noise ${noise}, rate ${rate}, seed ${seed}`).toEqual([]);
      expect(epochMetrics(run).at(-1)!.loss).toBeLessThan(noise > 0 ? 0.03 : 1e-6);
    }
  });

  it('rolls back exactly as the straight run does after a pause and resume (its rollback points are checkpointed)', async () => {
    const spec = resolveSpec(regression({ learningRate: 1.2, epochs: 8, divergence: { maxRetries: 3 } }));
    const straight = await collectRun(spec, backend);
    expect(divergences(straight.events)).toHaveLength(1);
    // Paused after epoch 2: the next epoch diverges and must go back to the end of epoch 1, which only the checkpoint remembers.
    const first = await collectRun(spec, backend, { stopAt: (e) => e.type === 'epochMetrics' && e.epoch === 2 });
    const paused = first.checkpoints.at(-1)!;
    expect(paused.reason).toBe('pause');
    const second = await collectRun(spec, backend, { resumeFrom: paused });
    expect(second.error).toBeUndefined();
    expect(divergences(second.events).map((e) => [e.epoch, e.rolledBackToEpoch])).toEqual(divergences(straight.events).map((e) => [e.epoch, e.rolledBackToEpoch]));
    expect(finalWeights(second)).toEqual(finalWeights(straight));
  });

  it('fails after maxRetries with the rate to start from', async () => {
    const run = await collectRun(resolveSpec(regression({ learningRate: 10, divergence: { maxRetries: 2 } })), backend);
    expect(String(run.error)).toMatch(/after 2 halvings of the learning rate \(now 2\.5; maxRetries 2\)\. Start from a learning rate of 1\.25 or lower/);
  });
});
