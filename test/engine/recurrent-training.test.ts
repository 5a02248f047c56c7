import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import { buildModel, buildObjective } from '../../src/engine/model-builder.js';
import type { JobSpecInput } from '../../src/spec/job-spec.js';
import { testBackend } from '../support/test-backend.js';
import { collectRun, epochMetrics, resolveSpec } from '../support/training-run.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

const adding = (overrides: Partial<JobSpecInput> = {}): JobSpecInput => ({
  dataset: { name: 'adding', rows: 600, length: 10, seed: 1 },
  model: {
    layers: [
      { type: 'lstm', units: 16, dropout: 0.1, recurrentDropout: 0.1, dropoutMode: 'variational', recurrentBatchNorm: {} },
      { type: 'dense', units: 1 },
    ],
  },
  optimizer: 'adam',
  learningRate: 0.01,
  epochs: 6,
  batchSize: 32,
  seed: 3,
  logEveryBatches: 0,
  ...overrides,
});

const kernelNorm = (weights: Float32Array) => Math.sqrt(weights.reduce((sum, w) => sum + w * w, 0));

describe('recurrent models in training', () => {
  it('an LSTM with variational dropout and recurrent batch norm learns the adding problem, faster than without batch norm', async () => {
    const dataset = { name: 'adding', rows: 1000, length: 10, seed: 1 } as const;
    const normalised = await collectRun(resolveSpec(adding({ dataset, epochs: 4 })), backend);
    expect(normalised.error).toBeUndefined();
    const plain = await collectRun(resolveSpec(adding({ dataset, epochs: 4, model: { layers: [{ type: 'lstm', units: 16 }, { type: 'dense', units: 1 }] } })), backend);
    // Always answering 1 scores MSE ≈ 0.167.
    expect(epochMetrics(normalised).at(-1)!.val_loss).toBeLessThan(0.08);
    expect(epochMetrics(plain).at(-1)!.val_loss).toBeGreaterThan(0.12);
    expect(epochMetrics(normalised).at(-1)!.val_mae).toBeDefined();
  });

  it('pausing and resuming an LSTM run with recurrent BN and dropout gives the same weights as running straight', async () => {
    const spec = resolveSpec(adding({ epochs: 3 }));
    const straight = await collectRun(spec, backend);
    const paused = await collectRun(spec, backend, { stopAt: (event) => event.type === 'epochMetrics' && event.epoch === 1 });
    expect(String(paused.error)).toContain('pause');
    const resumed = await collectRun(spec, backend, { resumeFrom: paused.checkpoints.at(-1)! });
    const weights = (run: typeof straight) => new Float32Array(run.checkpoints.at(-1)!.model.weightData);
    expect(weights(resumed)).toEqual(weights(straight));
  });

  // On native the layers below are one kernel over the sequence each (per-step input dropout included).
  for (const cell of ['gru', 'lstm'] as const) {
    it(`pausing and resuming a two-layer ${cell.toUpperCase()} run with input dropout gives the same weights as running straight`, async () => {
      const spec = resolveSpec(
        adding({
          dataset: { name: 'adding', rows: 300, length: 8, seed: 2 },
          model: { layers: [{ type: cell, units: 12, returnSequences: true, dropout: 0.2 }, { type: cell, units: 8 }, { type: 'dense', units: 1 }] },
          epochs: 3,
        }),
      );
      const straight = await collectRun(spec, backend);
      expect(straight.error).toBeUndefined();
      const paused = await collectRun(spec, backend, { stopAt: (event) => event.type === 'epochMetrics' && event.epoch === 1 });
      expect(String(paused.error)).toContain('pause');
      const resumed = await collectRun(spec, backend, { resumeFrom: paused.checkpoints.at(-1)! });
      const weights = (run: typeof straight) => new Float32Array(run.checkpoints.at(-1)!.model.weightData);
      expect(weights(resumed)).toEqual(weights(straight));
      expect(epochMetrics(straight).at(-1)!.loss).toBeLessThan(epochMetrics(straight)[0]!.loss!);
    });
  }

  it('a GRU over embedded tokens labels every step of the copy task', async () => {
    const run = await collectRun(
      resolveSpec({
        dataset: { name: 'copy', rows: 300, symbols: 4, length: 3, delay: 3, inputs: 'tokens' },
        model: {
          layers: [
            { type: 'embedding', inputDim: 6, outputDim: 8 },
            { type: 'gru', units: 24, returnSequences: true, dropout: 0.1, dropoutMode: 'cellUpdate' },
            { type: 'dense', units: 5, activation: 'softmax' },
          ],
        },
        loss: 'sparseCategoricalCrossentropy',
        learningRate: 0.02,
        epochs: 6,
        batchSize: 30,
        seed: 1,
        logEveryBatches: 0,
      }),
      backend,
    );
    expect(run.error).toBeUndefined();
    const metrics = epochMetrics(run);
    // Answering blank everywhere scores 6 of 9 steps.
    expect(metrics.at(-1)!.val_accuracy).toBeGreaterThan(6 / 9);
    expect(metrics.at(-1)!.loss).toBeLessThan(metrics[0]!.loss!);
  });

  it('irnn: relu, identity recurrent kernel and zero bias at step 0', () => {
    const spec = resolveSpec({
      dataset: { name: 'adding', rows: 40, length: 5 },
      model: { layers: [{ type: 'simpleRnn', units: 4, irnn: true }, { type: 'dense', units: 1 }] },
    });
    const { model } = buildModel(spec, [5, 2]);
    const byName = Object.fromEntries(model.layers[0]!.weights.map((w) => [w.originalName.split('/').pop(), w.read()]));
    expect(byName.recurrent_kernel!.arraySync()).toEqual(tf.eye(4).arraySync());
    expect(Array.from(byName.bias!.dataSync())).toEqual([0, 0, 0, 0]);
    expect(model.layers[0]!.getConfig().activation).toBe('relu');
    model.dispose();
  });

  it('L2 on an LSTM kernel penalises the input kernel only and shrinks it', async () => {
    const l2 = 0.05;
    const spec = resolveSpec(adding({ regularization: { l2 } }));
    const built = buildModel(spec, [10, 2]);
    const objective = buildObjective(spec, built);
    // The LSTM's input kernel and the dense kernel; not the recurrent kernel, not biases or BN's γ.
    expect(objective.weightPenalties.map((p) => p.variable.name.replace(/_\d+$/, ''))).toEqual(['lstm_0/kernel', 'dense_1/kernel']);
    built.model.dispose();

    const kernelOf = async (input: JobSpecInput) => {
      const run = await collectRun(resolveSpec(input), backend);
      const checkpoint = run.checkpoints.at(-1)!;
      const spec0 = checkpoint.model.weightSpecs[0]!;
      expect(spec0.name).toMatch(/kernel$/);
      return new Float32Array(checkpoint.model.weightData, 0, spec0.shape.reduce((a, b) => a * b, 1));
    };
    const plain = await kernelOf(adding({ epochs: 3 }));
    const penalised = await kernelOf(adding({ epochs: 3, regularization: { l2 } }));
    expect(kernelNorm(penalised)).toBeLessThan(0.8 * kernelNorm(plain));
  });
});
