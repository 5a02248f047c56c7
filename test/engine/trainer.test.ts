import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import { TrainingAbortedError, TrainingSpecError, type TrainingEvent } from '../../src/engine/events.js';
import { runTraining } from '../../src/engine/trainer.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import { testBackend } from '../support/test-backend.js';
import { tinyIrisSpec } from '../support/specs.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

async function train(input: JobSpecInput, signal?: AbortSignal): Promise<{ events: TrainingEvent[]; metrics: Record<string, number> }> {
  const events: TrainingEvent[] = [];
  const result = await runTraining(resolveJobSpec(jobSpecSchema.parse(input)), { emit: (event) => events.push(event) }, { backend, signal });
  return { events, metrics: result.finalMetrics };
}

describe('trainer', () => {
  it('learns iris well above chance', async () => {
    const { metrics } = await train(tinyIrisSpec({ epochs: 40, learningRate: 0.02, model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 3 }] } }));
    expect(metrics.val_accuracy).toBeGreaterThan(0.85);
  });

  it('gives the same run for the same seed and spec, and another for another seed', async () => {
    const spec = tinyIrisSpec({ epochs: 3, model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dropout', rate: 0.3 }, { type: 'dense', units: 3 }] } });
    const a = await train(spec);
    const b = await train(spec);
    const c = await train({ ...spec, seed: 8 });
    expect(b.metrics).toEqual(a.metrics);
    expect(c.metrics).not.toEqual(a.metrics);
  });

  it('reports started, batch and epoch metrics with global steps, and leaks no tensors', async () => {
    const before = tf.memory().numTensors;
    const { events } = await train(tinyIrisSpec({ epochs: 2, batchSize: 32, logEveryBatches: 2 }));
    expect(tf.memory().numTensors).toBe(before);
    expect(events[0]).toMatchObject({ type: 'started', trainRows: 120, validationRows: 30, stepsPerEpoch: 4, totalSteps: 8 });
    expect(events.slice(1).map((e) => (e.type === 'batchMetrics' || e.type === 'epochMetrics' ? `${e.type}@${e.step}` : e.type))).toEqual([
      'batchMetrics@2',
      'batchMetrics@4',
      'epochMetrics@4',
      'batchMetrics@6',
      'batchMetrics@8',
      'epochMetrics@8',
    ]);
  });

  it('stops within a batch when aborted', async () => {
    const controller = new AbortController();
    const events: TrainingEvent[] = [];
    const spec = resolveJobSpec(jobSpecSchema.parse(tinyIrisSpec({ epochs: 1000, batchSize: 8, logEveryBatches: 1 })));
    const run = runTraining(
      spec,
      {
        emit: (event) => {
          events.push(event);
          if (event.type === 'batchMetrics' && event.step === 5) controller.abort('stop please');
        },
      },
      { backend, signal: controller.signal },
    );
    await expect(run).rejects.toBeInstanceOf(TrainingAbortedError);
    expect(events.filter((e) => e.type === 'batchMetrics').length).toBe(5);
  });

  it('fails a diverging run with advice', async () => {
    await expect(
      train(tinyIrisSpec({ optimizer: 'sgd', learningRate: 10, epochs: 30, model: { layers: [{ type: 'dense', units: 32 }, { type: 'dense', units: 32 }, { type: 'dense', units: 3 }] } })),
    ).rejects.toThrow(TrainingSpecError);
  });
});
