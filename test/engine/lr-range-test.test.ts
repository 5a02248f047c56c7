import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import { TrainingSpecError, type TrainingEvent } from '../../src/engine/events.js';
import { runTraining } from '../../src/engine/trainer.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend('wasm');
});

async function train(input: JobSpecInput) {
  const events: TrainingEvent[] = [];
  const result = await runTraining(resolveJobSpec(jobSpecSchema.parse(input)), { emit: (event) => events.push(event) }, { backend });
  return { result, events };
}

/** The small set: 32 rows, one linear unit from zero, full batch. */
const small: JobSpecInput = {
  dataset: { name: 'regression', rows: 32 },
  model: { layers: [{ type: 'dense', units: 1, kernelInitializer: 'zeros' }] },
  loss: 'meanSquaredError',
  optimizer: 'sgd',
  validationSplit: 0,
  batchSize: 32,
  seed: 1,
};

/** A larger one: 2 400 MNIST training rows, 75 steps an epoch. */
const large: JobSpecInput = {
  dataset: { name: 'mnist', limit: 3000 },
  model: { layers: [{ type: 'dense', units: 64, activation: 'relu' }, { type: 'dense', units: 10, activation: 'softmax' }] },
  optimizer: 'sgd',
  batchSize: 32,
  seed: 1,
  logEveryBatches: 0,
};

const suggestion = async (input: JobSpecInput) => {
  const { result, events } = await train({ ...input, task: 'lrRangeTest' });
  const summary = events.find((e): e is Extract<TrainingEvent, { type: 'lrRangeTest' }> => e.type === 'lrRangeTest')!;
  expect(result.finalMetrics.suggested_learning_rate).toBe(summary.suggestedLearningRate);
  return summary;
};

describe('the learning-rate range test suggests a rate that trains', () => {
  it('on a small set: five epochs at the suggestion bring the loss near its floor (the old suggestion, 3.9e-4, left it at 12.6)', async () => {
    const summary = await suggestion(small);
    const at = async (rate: number) => (await train({ ...small, learningRate: rate, epochs: 5 })).result.finalMetrics.loss!;
    const suggested = await at(summary.suggestedLearningRate);
    expect(suggested).toBeLessThan(0.02);
    // As good as the better of the usual hand-picked rates.
    expect(suggested).toBeLessThanOrEqual(Math.min(await at(0.1), await at(0.3)) * 1.05);
    // The trials that chose it started from the same weights, and the chosen one fell.
    expect(summary.trials.length).toBeGreaterThan(1);
    expect(summary.trials.find((t) => t.learningRate === summary.suggestedLearningRate)!.fell).toBe(true);
  });

  it('on a large set: one epoch at the suggestion is within 3 points of the best rate of a grid', async () => {
    const summary = await suggestion(large);
    const accuracy = async (rate: number) => (await train({ ...large, learningRate: rate, epochs: 1 })).result.finalMetrics.val_accuracy!;
    const suggested = await accuracy(summary.suggestedLearningRate);
    const grid = await Promise.all([0.03, 0.1, 0.3, 1].map(accuracy));
    expect(suggested).toBeGreaterThan(0.84);
    expect(suggested).toBeGreaterThanOrEqual(Math.max(...grid) - 0.03);
  });

  it('fails, saying so, when no rate in the sweep makes the loss fall', async () => {
    await expect(train({ ...small, task: 'lrRangeTest', lrRangeTest: { minLearningRate: 1e-9, maxLearningRate: 1e-8 } })).rejects.toThrow(TrainingSpecError);
    await expect(train({ ...small, task: 'lrRangeTest', lrRangeTest: { minLearningRate: 1e-9, maxLearningRate: 1e-8 } })).rejects.toThrow(/made the loss fall 10 % in 10 steps/);
  });
});
