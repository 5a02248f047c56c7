import { beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../support/test-backend.js';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import type { TrainingEvent } from '../../src/engine/events.js';
import { runTraining } from '../../src/engine/trainer.js';
import { jobSpecSchema, resolveJobSpec } from '../../src/spec/job-spec.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

describe('convolutional models on MNIST images', () => {
  it('train on wasm (with the supplied filter gradient) and learn', async () => {
    const spec = resolveJobSpec(
      jobSpecSchema.parse({
        dataset: { name: 'mnist', shape: 'image', limit: 800 },
        model: {
          layers: [
            { type: 'conv2d', filters: 8, kernelSize: 3, activation: 'relu' },
            { type: 'maxPool2d' },
            { type: 'conv2d', filters: 8, kernelSize: 3, padding: 'same' },
            { type: 'avgPool2d' },
            { type: 'flatten' },
            { type: 'dense', units: 10 },
          ],
        },
        epochs: 3,
        batchSize: 32,
        learningRate: 0.003,
        seed: 2,
      }),
    );
    const epochs: Extract<TrainingEvent, { type: 'epochMetrics' }>[] = [];
    await runTraining(spec, { emit: (event) => event.type === 'epochMetrics' && epochs.push(event) }, { backend });
    expect(epochs.at(-1)!.values.loss).toBeLessThan(epochs[0]!.values.loss!);
    expect(epochs.at(-1)!.values.val_accuracy).toBeGreaterThan(0.5);
  });
});
