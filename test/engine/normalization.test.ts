import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import type { CheckpointData } from '../../src/engine/checkpoint-data.js';
import { buildModel } from '../../src/engine/model-builder.js';
import { runTraining } from '../../src/engine/trainer.js';
import { jobSpecSchema, resolveJobSpec } from '../../src/spec/job-spec.js';
import { testBackend } from '../support/test-backend.js';
import { tinyIrisSpec } from '../support/specs.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

const specWith = (layers: object[], overrides = {}) =>
  resolveJobSpec(jobSpecSchema.parse({ ...tinyIrisSpec({ epochs: 4, ...overrides }), model: { layers } }));

describe('batch normalization', () => {
  it('uses batch statistics in training and running statistics (momentum) at inference', () => {
    const { model } = buildModel(specWith([{ type: 'batchNormalization', momentum: 0.9 }, { type: 'dense', units: 3 }]), [4]);
    const bn = model.layers[0]!;
    const x = tf.tensor2d([
      [1, 2, 3, 4],
      [3, 6, 9, 12],
    ]);
    const trainingOut = bn.apply(x, { training: true }) as tf.Tensor;
    // Each feature normalised over the batch: the two rows become −1 and +1 (up to ε).
    const values = trainingOut.arraySync() as number[][];
    for (let f = 0; f < 4; f++) {
      expect(values[0]![f]).toBeCloseTo(-1, 2);
      expect(values[1]![f]).toBeCloseTo(1, 2);
    }
    // running mean ← 0.9 · 0 + 0.1 · batch mean
    const movingMean = bn.getWeights()[2]!.dataSync();
    expect(Array.from(movingMean).map((v) => Number(v.toFixed(5)))).toEqual([0.2, 0.4, 0.6, 0.8]);
    // Inference uses the running statistics, so the same batch is not normalised to ±1.
    const inferenceOut = (bn.apply(x, { training: false }) as tf.Tensor).arraySync() as number[][];
    expect(inferenceOut[0]![0]).not.toBeCloseTo(-1, 1);
    tf.dispose([x, trainingOut]);
    model.dispose();
  });
});

describe('batch normalization at inference', () => {
  it("a sample's output does not depend on the other samples in the batch (running statistics)", () => {
    const { model } = buildModel(specWith([{ type: 'dense', units: 6 }, { type: 'batchNormalization' }, { type: 'dense', units: 3 }]), [4]);
    // Give the running statistics something other than their initial values.
    tf.tidy(() => void model.apply(tf.randomNormal([32, 4], 2, 3, 'float32', 5), { training: true }));
    const sample = [0.5, -1, 2, 0];
    const batchOf = (others: number[][]) => (model.apply(tf.tensor2d([sample, ...others]), { training: false }) as tf.Tensor).arraySync() as number[][];
    const alone = batchOf([]);
    const withOthers = batchOf([[100, 100, 100, 100], [-50, 3, 7, 1]]);
    alone[0]!.forEach((v, i) => expect(withOthers[0]![i]).toBeCloseTo(v, 5));
    // In training the batch statistics do mix the samples.
    const trainingOut = (x: number[][]) => (model.apply(tf.tensor2d(x), { training: true }) as tf.Tensor).arraySync() as number[][];
    expect(trainingOut([sample, [100, 100, 100, 100]])[0]![0]).not.toBeCloseTo(trainingOut([sample, [-50, 3, 7, 1]])[0]![0]!, 3);
    model.dispose();
  });
});

describe('dropout', () => {
  it('is off at inference: the same input gives the same output every time; in training it does not', () => {
    const { model, clock } = buildModel(specWith([{ type: 'dense', units: 16 }, { type: 'dropout', rate: 0.5 }, { type: 'dense', units: 3 }]), [4]);
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    const run = (training: boolean) => (model.apply(x, { training }) as tf.Tensor).arraySync();
    expect(run(false)).toEqual(run(false));
    clock.step = 1;
    const first = run(true);
    clock.step = 2;
    expect(run(true)).not.toEqual(first);
    model.dispose();
  });
});

describe('layer normalization', () => {
  it('normalises over the units of each sample, whatever else is in the batch', () => {
    const { model } = buildModel(specWith([{ type: 'dense', units: 6 }, { type: 'layerNormalization' }, { type: 'dense', units: 3 }]), [4]);
    const ln = model.layers[1]!;
    const a = [1, 2, 3, 4, 5, 6];
    const together = (ln.apply(tf.tensor2d([a, [9, 9, 9, 1, 1, 1]]), { training: true }) as tf.Tensor).arraySync() as number[][];
    const alone = (ln.apply(tf.tensor2d([a]), { training: true }) as tf.Tensor).arraySync() as number[][];
    together[0]!.forEach((v, i) => expect(v).toBeCloseTo(alone[0]![i]!, 5));
    const mean = alone[0]!.reduce((s, v) => s + v, 0) / 6;
    expect(mean).toBeCloseTo(0, 5);
    model.dispose();
  });
});

describe('normalization layers in a run', () => {
  it('train, and resume exactly (running statistics are in the checkpoint)', async () => {
    const spec = specWith([{ type: 'dense', units: 16 }, { type: 'batchNormalization' }, { type: 'activation', activation: 'relu' }, { type: 'layerNormalization' }, { type: 'dense', units: 3 }]);
    const run = async (stopAtEpoch?: number, resumeFrom?: CheckpointData) => {
      const controller = new AbortController();
      const checkpoints: CheckpointData[] = [];
      await runTraining(
        spec,
        { emit: (e) => e.type === 'epochMetrics' && e.epoch === stopAtEpoch && controller.abort('pause'), checkpoint: (data) => checkpoints.push(data) },
        { backend, signal: controller.signal, resumeFrom },
      ).catch(() => undefined);
      return checkpoints;
    };
    const straight = await run();
    const first = await run(2);
    const second = await run(undefined, first.at(-1));
    const weights = (c: CheckpointData[]) => new Float32Array(c.find((x) => x.reason === 'final')!.model.weightData);
    const a = weights(straight);
    const b = weights(second);
    expect(a.length).toBe(b.length);
    expect(a.reduce((max, v, i) => Math.max(max, Math.abs(v - b[i]!)), 0)).toBeLessThan(1e-6);
    expect(straight.at(-1)!.model.weightSpecs.map((s) => s.name.replace(/_\d+$/, ''))).toEqual(
      expect.arrayContaining([expect.stringMatching(/moving_mean$/), expect.stringMatching(/moving_variance$/)]),
    );
  });
});

describe('batch normalization without learned shift or scale (center, scale)', () => {
  it('has only the running statistics and trains (TF.js\'s own layer cannot train with them off)', async () => {
    const spec = specWith([{ type: 'dense', units: 8 }, { type: 'batchNormalization', center: false, scale: false }, { type: 'activation', activation: 'relu' }, { type: 'dense', units: 3 }]);
    const { model } = buildModel(spec, [4]);
    expect(model.layers[1]!.weights.map((w) => w.originalName.split('/').pop())).toEqual(['moving_mean', 'moving_variance']);
    model.dispose();
    const result = await runTraining(spec, { emit: () => undefined }, { backend });
    expect(Number.isFinite(result.finalMetrics.loss)).toBe(true);
    const onlyShift = specWith([{ type: 'dense', units: 8 }, { type: 'batchNormalization', scale: false }, { type: 'dense', units: 3 }]);
    const built = buildModel(onlyShift, [4]);
    expect(built.model.layers[1]!.weights.map((w) => w.originalName.split('/').pop())).toEqual(['beta', 'moving_mean', 'moving_variance']);
    built.model.dispose();
  });
});

describe('dropout noiseShape (Keras\'s noise_shape; PyTorch Dropout1d/Dropout2d)', () => {
  it('shares one draw along each axis of size 1: the same features dropped at every time step, or whole channels', () => {
    const rate = 0.5;
    const sequence = resolveJobSpec(
      jobSpecSchema.parse({
        dataset: { name: 'sine', rows: 40, length: 6 },
        model: { layers: [{ type: 'dense', units: 8 }, { type: 'dropout', rate, noiseShape: [1, 8] }, { type: 'lstm', units: 4 }, { type: 'dense', units: 1 }] },
      }),
    );
    const { model, clock } = buildModel(sequence, [6, 1]);
    const dropout = model.layers[1]!;
    clock.step = 3;
    const ones = tf.ones([5, 6, 8]);
    const out = (dropout.apply(ones, { training: true }) as tf.Tensor).arraySync() as number[][][];
    const kept: number[] = [];
    for (const sample of out) {
      for (let f = 0; f < 8; f++) {
        const column = sample.map((step) => step[f]!);
        // Inverted dropout: 0 or 1/(1 − p), and the same value at every time step.
        expect(new Set(column).size).toBe(1);
        expect([0, 1 / (1 - rate)]).toContain(column[0]);
        kept.push(column[0]! > 0 ? 1 : 0);
      }
    }
    expect(kept.some((k) => k === 0) && kept.some((k) => k === 1)).toBe(true);
    // Samples get their own draws.
    expect(out.map((sample) => sample[0]!.join())).not.toEqual(new Array(5).fill(out[0]![0]!.join()));
    // Inference: off. The exported config carries the shape, with Keras's leading batch entry.
    expect((dropout.apply(ones, { training: false }) as tf.Tensor).arraySync()).toEqual(tf.ones([5, 6, 8]).arraySync());
    expect(dropout.getConfig().noiseShape).toEqual([null, 1, 8]);
    tf.dispose(ones);
    model.dispose();

    const image = resolveJobSpec(
      jobSpecSchema.parse({
        dataset: { name: 'mnist', shape: 'image', limit: 100 },
        model: { layers: [{ type: 'conv2d', filters: 4 }, { type: 'dropout', rate, noiseShape: [1, 1, 4] }, { type: 'flatten' }, { type: 'dense', units: 10 }] },
      }),
    );
    const built = buildModel(image, [28, 28, 1]);
    built.clock.step = 1;
    const maps = (built.model.layers[1]!.apply(tf.ones([3, 26, 26, 4]), { training: true }) as tf.Tensor).arraySync() as number[][][][];
    for (const sample of maps) {
      for (let c = 0; c < 4; c++) expect(new Set(sample.flatMap((row) => row.map((pixel) => pixel[c]!))).size).toBe(1);
    }
    built.model.dispose();
  });

  it('is checked at submission against the layer\'s input shape', () => {
    const parsed = jobSpecSchema.safeParse({
      dataset: { name: 'sine', rows: 40, length: 6 },
      model: { layers: [{ type: 'dense', units: 8 }, { type: 'dropout', rate: 0.2, noiseShape: [6, 4] }, { type: 'lstm', units: 4 }, { type: 'dense', units: 1 }] },
    });
    expect(parsed.error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)).toEqual([
      "model.layers.1.noiseShape: the layer's input is [6, 8]: give one entry per axis, each 1 (shared) or the axis's size, e.g. [1, 8]",
    ]);
  });
});
