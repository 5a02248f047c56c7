import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import { TrainingSpecError, type TrainingEvent } from '../../src/engine/events.js';
import { runTraining } from '../../src/engine/trainer.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import { testBackend } from '../support/test-backend.js';
import { tinyIrisSpec } from '../support/specs.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

async function train(input: JobSpecInput) {
  const events: TrainingEvent[] = [];
  const result = await runTraining(resolveJobSpec(jobSpecSchema.parse(input)), { emit: (event) => events.push(event) }, { backend });
  const of = <T extends TrainingEvent['type']>(type: T) => events.filter((e): e is Extract<TrainingEvent, { type: T }> => e.type === type);
  return { result, events, of };
}

// A deep linear stack at a high rate: the loss turns NaN within a few steps.
const explosive = { layers: [{ type: 'dense' as const, units: 32 }, { type: 'dense' as const, units: 32 }, { type: 'dense' as const, units: 3 }] };

describe('optimizer phases', () => {
  it('switches optimizer at the boundary with fresh state and says so', async () => {
    const { of, result } = await train(
      tinyIrisSpec({
        epochs: 4,
        optimizer: [
          { optimizer: 'adam', untilEpoch: 2, learningRate: 0.02 },
          { optimizer: { type: 'momentum', momentum: 0.9 }, learningRate: 0.01 },
        ],
      }),
    );
    expect(of('optimizerPhase').map((e) => [e.phase, e.optimizer.type, e.fromEpoch, e.untilEpoch, e.learningRate])).toEqual([
      [1, 'adam', 1, 2, 0.02],
      [2, 'momentum', 3, 4, 0.01],
    ]);
    expect(of('epochMetrics').map((e) => e.values.learning_rate)).toEqual([0.02, 0.02, 0.01, 0.01]);
    expect(result.epochs).toBe(4);
  });
});

describe('learning rate in effect', () => {
  it('is a metric every epoch and follows the schedule with warm-up', async () => {
    const { of } = await train(
      tinyIrisSpec({ epochs: 4, batchSize: 30, logEveryBatches: 1, learningRate: { type: 'step', initial: 0.08, factor: 0.5, everySteps: 4, warmupSteps: 2 } }),
    );
    // 4 steps per epoch: two of warm-up from η₀/2, then η₀ halved every 4 steps; the epoch metric is the rate of its last step.
    expect(of('batchMetrics').map((e) => e.values.learning_rate).slice(0, 7)).toEqual([0.04, 0.06, 0.08, 0.08, 0.08, 0.08, 0.04]);
    expect(of('epochMetrics').map((e) => e.values.learning_rate)).toEqual([0.08, 0.04, 0.02, 0.01]);
  });

  it('warm-up reaches η₀ and the cosine decays from there; the last step still trains (issue 20: the peak was 0.0397 of 0.05, the last rate 0)', async () => {
    const { of } = await train(tinyIrisSpec({ epochs: 4, batchSize: 16, logEveryBatches: 1, learningRate: { type: 'cosine', initial: 0.05, warmupSteps: 5 } }));
    const rates = of('batchMetrics').map((e) => e.values.learning_rate!);
    expect(rates).toHaveLength(32);
    expect(Math.max(...rates)).toBe(0.05);
    expect(rates[5]).toBe(0.05);
    expect(rates.at(-1)).toBeGreaterThan(0);
    expect(rates.slice(5).every((rate, i, decay) => i === 0 || rate < decay[i - 1]!)).toBe(true);
  });

  it('a phase\'s schedule counts from the phase\'s own start', async () => {
    const { of } = await train(
      tinyIrisSpec({
        epochs: 4,
        batchSize: 16,
        logEveryBatches: 1,
        optimizer: [
          { optimizer: 'adam', untilEpoch: 2, learningRate: 0.01 },
          { optimizer: 'sgd', learningRate: { type: 'cosine', initial: 0.1 } },
        ],
      }),
    );
    const rates = of('batchMetrics').map((e) => e.values.learning_rate!);
    // 8 steps an epoch: phase 2 is steps 17–32, a cosine over its own 16 steps.
    expect(rates[16]).toBe(0.1);
    rates.slice(16).forEach((rate, i) => expect(rate).toBeCloseTo(0.05 * (1 + Math.cos((Math.PI * i) / 16)), 12));
  });

  it('reduce-on-plateau lowers the rate when the monitored metric stalls', async () => {
    const { of } = await train(
      tinyIrisSpec({ epochs: 12, learningRate: { type: 'reduceOnPlateau', initial: 0.05, monitor: 'loss', patience: 0, factor: 0.5, threshold: 0.2 } }),
    );
    const epochs = of('epochMetrics');
    const rates = epochs.map((e) => e.values.learning_rate!);
    expect(new Set(rates).size).toBeGreaterThan(1);
    // As torch's: epoch e + 1's rate is halved exactly when epoch e's loss was not 20 % below the best before it.
    let best = Number.POSITIVE_INFINITY;
    let rate = 0.05;
    epochs.forEach((e) => {
      expect(e.values.learning_rate).toBe(rate);
      if (e.values.loss! < best * 0.8) best = e.values.loss!;
      else rate *= 0.5;
    });
  });

  it('applies the linear scaling rule', async () => {
    const spec = resolveJobSpec(jobSpecSchema.parse(tinyIrisSpec({ learningRate: undefined, optimizer: 'sgd', batchSize: 64, linearScaling: { baseBatchSize: 256, baseLearningRate: 0.4 } })));
    expect(spec.learningRate).toBe(0.1);
  });
});

describe('divergence recovery', () => {
  it('rolls back and halves the rate until training stops diverging, reporting every halving', async () => {
    const { of, result, events } = await train(
      tinyIrisSpec({ model: explosive, optimizer: 'sgd', learningRate: 1, epochs: 3, logEveryBatches: 1, divergence: { maxRetries: 12, factor: 4 } }),
    );
    const halvings = of('divergence');
    expect(halvings.length).toBeGreaterThan(0);
    halvings.forEach((event, i) => {
      expect(event.retry).toBe(i + 1);
      expect(event.newLearningRate).toBeCloseTo(event.oldLearningRate / 2, 12);
      expect(event.oldLearningRate).toBeCloseTo(1 / 2 ** i, 12);
    });
    // After the last rollback the run goes on from the epoch it returned to, at the last halved rate, to the end.
    const finalRate = 1 / 2 ** halvings.length;
    const last = halvings.at(-1)!;
    const after = of('epochMetrics').filter((e) => events.indexOf(e) > events.indexOf(last));
    expect(after.map((e) => e.epoch)).toEqual(Array.from({ length: 3 - last.rolledBackToEpoch }, (_, i) => last.rolledBackToEpoch + 1 + i));
    expect(after.every((e) => e.values.learning_rate === finalRate)).toBe(true);
    expect(Number.isFinite(result.finalMetrics.loss)).toBe(true);
  });

  it('gives up after maxRetries with a reason that says what to try', async () => {
    await expect(
      train(tinyIrisSpec({ model: explosive, optimizer: 'sgd', learningRate: 10, epochs: 2, logEveryBatches: 1, divergence: { maxRetries: 1, factor: 4 } })),
    ).rejects.toThrow(/diverged .* after 1 halving of the learning rate \(now 5; maxRetries 1\)\. Start from a learning rate of 2\.5 or lower/);
  });

  it('without divergence recovery, NaN fails the run at once', async () => {
    await expect(train(tinyIrisSpec({ model: explosive, optimizer: 'sgd', learningRate: 10, epochs: 2 }))).rejects.toBeInstanceOf(TrainingSpecError);
  });
});

describe('gradient noise and clipping', () => {
  it('noise is seeded: same seed, same run; and it changes the run', async () => {
    const noisy = tinyIrisSpec({ epochs: 2, gradientNoise: { eta: 0.3, gamma: 0.55 } });
    const a = await train(noisy);
    const b = await train(noisy);
    const plain = await train(tinyIrisSpec({ epochs: 2 }));
    expect(b.result.finalMetrics).toEqual(a.result.finalMetrics);
    expect(plain.result.finalMetrics).not.toEqual(a.result.finalMetrics);
  });

  it('clipNorm keeps an otherwise exploding run finite', async () => {
    const { result } = await train(tinyIrisSpec({ model: explosive, optimizer: 'sgd', learningRate: 0.5, clipNorm: 1, epochs: 3 }));
    expect(Number.isFinite(result.finalMetrics.loss)).toBe(true);
  });
});

describe('learning-rate range test task', () => {
  it('records loss against rate and suggests a rate inside the sweep', async () => {
    const before = tf.memory().numTensors;
    const { of, result } = await train(
      tinyIrisSpec({ task: 'lrRangeTest', optimizer: 'sgd', learningRate: undefined, batchSize: 16, lrRangeTest: { minLearningRate: 1e-4, maxLearningRate: 10, steps: 60 } }),
    );
    expect(tf.memory().numTensors).toBe(before);
    const points = of('batchMetrics');
    expect(points.length).toBeGreaterThan(10);
    expect(points[0]!.values.learning_rate).toBeCloseTo(1e-4, 12);
    for (let i = 1; i < points.length; i++) expect(points[i]!.values.learning_rate!).toBeGreaterThan(points[i - 1]!.values.learning_rate!);
    const [summary] = of('lrRangeTest');
    expect(summary!.suggestedLearningRate).toBeGreaterThanOrEqual(1e-4);
    expect(summary!.suggestedLearningRate).toBeLessThanOrEqual(10);
    expect(result.finalMetrics.suggested_learning_rate).toBe(summary!.suggestedLearningRate);
  });
});
