import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import { TrainingAbortedError } from '../../src/engine/events.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import { testBackend } from '../support/test-backend.js';
import { tinyIrisSpec } from '../support/specs.js';
import { collectRun, type CollectedRun } from '../support/training-run.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

// Everything that carries state across steps: Adam moments, dropout masks, shuffling, noise, a schedule.
const spec = resolveJobSpec(
  jobSpecSchema.parse(
    tinyIrisSpec({
      epochs: 4,
      batchSize: 16,
      logEveryBatches: 3,
      learningRate: { type: 'cosine', initial: 0.05, floor: 0.001, warmupSteps: 5 },
      gradientNoise: { eta: 0.01, gamma: 0.55 },
      model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dropout', rate: 0.25 }, { type: 'dense', units: 3 }] },
    }),
  ),
);

type Run = CollectedRun;
const run = (input = spec, options: Parameters<typeof collectRun>[2] = {}) => collectRun(input, backend, options);

function finalWeights(r: Run): Float32Array {
  const final = r.checkpoints.find((c) => c.reason === 'final');
  expect(final, 'a final checkpoint').toBeDefined();
  return new Float32Array(final!.model.weightData);
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((max, v, i) => Math.max(max, Math.abs(v - b[i]!)), 0);
}

const epochValues = (r: Run) => r.events.filter((e) => e.type === 'epochMetrics').map((e) => (e.type === 'epochMetrics' ? [e.epoch, e.step, e.values.loss] : []));

describe('resuming from a checkpoint continues the same trajectory', () => {
  it('4 epochs straight = 2 epochs, pause, resume, 2 epochs', async () => {
    const straight = await run();
    expect(straight.error).toBeUndefined();
    expect(straight.checkpoints.map((c) => [c.reason, c.state.completedEpochs])).toEqual([
      ['epoch', 1],
      ['epoch', 2],
      ['epoch', 3],
      ['final', 4],
    ]);

    const first = await run(spec, { stopAt: (e) => e.type === 'epochMetrics' && e.epoch === 2 });
    expect(first.error).toBeInstanceOf(TrainingAbortedError);
    const paused = first.checkpoints.at(-1)!;
    expect(paused.reason).toBe('pause');
    expect(paused.state.position).toEqual({ epoch: 3, batch: 0 });

    const second = await run(spec, { resumeFrom: paused });
    expect(second.error).toBeUndefined();
    expect(second.events.find((e) => e.type === 'resumed')).toMatchObject({ fromEpoch: 2, reason: 'pause' });
    expect(maxDiff(finalWeights(second), finalWeights(straight))).toBeLessThan(1e-6);
    // The metric history of the two halves is the straight run's.
    expect([...epochValues(first), ...epochValues(second)]).toEqual(epochValues(straight));
  });

  it('also from the middle of an epoch (pause at any batch)', async () => {
    const straight = await run();
    const first = await run(spec, { stopAt: (e) => e.type === 'batchMetrics' && e.step === 12 });
    const paused = first.checkpoints.at(-1)!;
    expect(paused.reason).toBe('pause');
    expect(paused.state.position).toEqual({ epoch: 2, batch: 4 });
    const second = await run(spec, { resumeFrom: paused });
    expect(maxDiff(finalWeights(second), finalWeights(straight))).toBeLessThan(1e-6);
    const straightBatches = straight.events.filter((e) => e.type === 'batchMetrics');
    const resumedBatches = [...first.events, ...second.events].filter((e) => e.type === 'batchMetrics');
    expect(resumedBatches).toEqual(straightBatches);
  });

  it('carries reduce-on-plateau\'s state: the resumed run reduces exactly when the straight one does', async () => {
    const plateau = resolveJobSpec(
      jobSpecSchema.parse(
        tinyIrisSpec({
          epochs: 10,
          batchSize: 16,
          learningRate: { type: 'reduceOnPlateau', initial: 0.05, monitor: 'val_loss', patience: 0, factor: 0.5, threshold: 0.2, cooldown: 1 },
        }),
      ),
    );
    const straight = await run(plateau);
    const rates = (r: Run) => r.events.flatMap((e) => (e.type === 'epochMetrics' ? [e.values.learning_rate] : []));
    expect(new Set(rates(straight)).size).toBeGreaterThan(2);
    const first = await run(plateau, { stopAt: (e) => e.type === 'batchMetrics' && e.step === 42 });
    const second = await run(plateau, { resumeFrom: first.checkpoints.at(-1)! });
    expect([...rates(first), ...rates(second)]).toEqual(rates(straight));
    expect(finalWeights(second)).toEqual(finalWeights(straight));
  });

  it('restores optimizer phases and leaks nothing', async () => {
    const phased = resolveJobSpec(
      jobSpecSchema.parse({
        ...tinyIrisSpec({ epochs: 4 }),
        optimizer: [
          { optimizer: 'adam', untilEpoch: 2, learningRate: 0.02 },
          { optimizer: 'nesterov', learningRate: 0.01 },
        ],
      } satisfies JobSpecInput),
    );
    const before = tf.memory().numTensors;
    const straight = await run(phased);
    const first = await run(phased, { stopAt: (e) => e.type === 'batchMetrics' && e.step === 24 });
    const second = await run(phased, { resumeFrom: first.checkpoints.at(-1)! });
    expect(tf.memory().numTensors).toBe(before);
    expect(maxDiff(finalWeights(second), finalWeights(straight))).toBeLessThan(1e-6);
  });
});
