import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { RecurrentLayer, type RecurrentDropoutMode } from '../../src/engine/layers/recurrent.js';
import { dropoutSites, rowsPerCall, sampleWithDropout, type SampleBlock } from '../../src/engine/mc-dropout.js';
import { buildModel } from '../../src/engine/model-builder.js';
import { testBackend } from '../support/test-backend.js';
import { resolveSpec } from '../support/training-run.js';
import { tinyIrisSpec } from '../support/specs.js';

beforeAll(async () => {
  await selectBackend(testBackend);
});

const irisModel = (layers: NonNullable<Parameters<typeof tinyIrisSpec>[0]>['model']) => {
  const spec = resolveSpec(tinyIrisSpec({ model: layers }));
  return { spec, built: buildModel(spec, [4]) };
};

/** Every block's values, concatenated in row order (checking the blocks arrive in order and cover every row). */
async function samplesOf(model: tf.LayersModel, clock: { step: number; sampleDropout?: boolean }, x: tf.Tensor, samples: number, seed: number, maxRowsPerCall = 10_000) {
  const blocks: SampleBlock[] = [];
  const rows = x.dataSync() as Float32Array;
  const { forwardCalls, outputShape } = await sampleWithDropout(model, clock, rows, x.shape.slice(1), { samples, seed, maxRowsPerCall }, (block) => blocks.push(block));
  let next = 0;
  for (const block of blocks) {
    expect(block.firstRow).toBe(next);
    next += block.rows;
  }
  expect(next).toBe(x.shape[0]! * samples);
  const width = outputShape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(next * width);
  blocks.forEach((block) => values.set(block.values, block.firstRow * width));
  return { values, forwardCalls, width };
}

const input = () => tf.tensor2d([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]);

describe('dropoutSites', () => {
  it('names every dropout layer and recurrent dropout, and nothing in a model without', () => {
    expect(dropoutSites(resolveSpec(tinyIrisSpec()))).toEqual([]);
    expect(dropoutSites(resolveSpec(tinyIrisSpec({ model: { layers: [{ type: 'dense', units: 8 }, { type: 'dropout', rate: 0 }, { type: 'dense', units: 3 }] } })))).toEqual([]);
    const sequence = resolveSpec({
      dataset: { name: 'adding', rows: 100, length: 10 },
      model: {
        layers: [
          { type: 'lstm', units: 8, returnSequences: true, dropout: 0.1, recurrentDropout: 0.3, dropoutMode: 'variational' },
          { type: 'gru', units: 8, dropout: 0.2, dropoutMode: 'cellUpdate' },
          { type: 'dropout', rate: 0.5 },
          { type: 'dense', units: 1 },
        ],
      },
    });
    expect(dropoutSites(sequence)).toEqual([
      { field: 'model.layers[0].dropout', rate: 0.3, kind: 'variational' },
      { field: 'model.layers[1].dropout', rate: 0.2, kind: 'cellUpdate' },
      { field: 'model.layers[2].rate', rate: 0.5, kind: 'dropout' },
    ]);
  });
});

describe('sampleWithDropout', () => {
  it('draws T different passes per input, the same ones for the same seed, and leaves the model deterministic after', async () => {
    const { built } = irisModel({ layers: [{ type: 'dense', units: 32, activation: 'relu' }, { type: 'dropout', rate: 0.5 }, { type: 'dense', units: 3 }] });
    const x = input();
    const before = (built.model.predict(x) as tf.Tensor).arraySync();
    const a = await samplesOf(built.model, built.clock, x, 8, 1);
    const again = await samplesOf(built.model, built.clock, x, 8, 1);
    const other = await samplesOf(built.model, built.clock, x, 8, 2);
    expect(Array.from(again.values)).toEqual(Array.from(a.values));
    expect(Array.from(other.values)).not.toEqual(Array.from(a.values));
    // Input 0's eight passes (rows 0–7) are eight different draws.
    const passes = new Set(Array.from({ length: 8 }, (_, t) => Array.from(a.values.subarray(t * 3, t * 3 + 3)).join()));
    expect(passes.size).toBe(8);
    expect(a.forwardCalls).toBe(1);
    // Dropout is off again outside sampling, and the clock is as it was.
    expect((built.model.predict(x) as tf.Tensor).arraySync()).toEqual(before);
    expect(built.clock).toEqual({ step: 0, sampleDropout: undefined });
    built.model.dispose();
  });

  it('runs the layers before the first dropout once per input, giving the passes a whole-model run gives', async () => {
    const { built } = irisModel({ layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 16, activation: 'tanh' }, { type: 'dropout', rate: 0.4 }, { type: 'dense', units: 3 }] });
    // The same layers as a functional model: sampled whole, every pass through every layer.
    const whole = tf.model({ inputs: built.model.inputs, outputs: built.model.outputs });
    const sequential = await samplesOf(built.model, built.clock, input(), 12, 6, 10);
    const functional = await samplesOf(whole, built.clock, input(), 12, 6, 10);
    expect(sequential.forwardCalls).toBe(functional.forwardCalls);
    sequential.values.forEach((v, i) => expect(v).toBeCloseTo(functional.values[i]!, 5));
    built.model.dispose();
  });

  it('splits the passes into forward calls of at most maxRowsPerCall rows, in input-major order', async () => {
    const { built } = irisModel({ layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dropout', rate: 0.3 }, { type: 'dense', units: 3 }] });
    const split = await samplesOf(built.model, built.clock, input(), 10, 4, 7);
    expect(split.forwardCalls).toBe(3);
    built.model.dispose();
  });

  it('keeps batch normalization on its running statistics, so the mean of many passes is the plain prediction (inverted dropout)', async () => {
    const { built } = irisModel({ layers: [{ type: 'dense', units: 6 }, { type: 'batchNormalization' }, { type: 'dropout', rate: 0.3 }, { type: 'dense', units: 3 }] });
    const bn = built.model.layers[1]!;
    const running = () => bn.getWeights().slice(2).map((w) => Array.from(w.dataSync()));
    bn.setWeights([...bn.getWeights().slice(0, 2), tf.tensor1d([1, -2, 0.5, 3, 0, -1]), tf.tensor1d([4, 0.5, 2, 1, 9, 3])]);
    const stats = running();
    const x = input();
    const plain = (built.model.predict(x) as tf.Tensor).arraySync() as number[][];
    const samples = 4000;
    const { values } = await samplesOf(built.model, built.clock, x, samples, 9);
    const mean = [0, 1].map((i) => [0, 1, 2].map((k) => {
      let sum = 0;
      for (let t = 0; t < samples; t++) sum += values[(i * samples + t) * 3 + k]!;
      return sum / samples;
    }));
    // A linear model after the dropout: E[output] is the plain output. With batch statistics (2 distinct
    // rows, copied 4000 times) the outputs would be far from it.
    for (let i = 0; i < 2; i++) for (let k = 0; k < 3; k++) expect(Math.abs(mean[i]![k]! - plain[i]![k]!)).toBeLessThan(0.05 * (1 + Math.abs(plain[i]![k]!)));
    expect(running()).toEqual(stats);
    built.model.dispose();
  });

  it.each<[RecurrentDropoutMode, boolean]>([
    ['variational', true],
    ['standard', false],
  ])('draws recurrent masks as in training: %s keeps one input mask per sequence: %s', async (mode, constantPerSequence) => {
    const clock = { step: 0 };
    const rnn = new RecurrentLayer({
      name: `rnn_${mode}`,
      cell: 'simpleRnn',
      units: 1,
      activation: 'linear',
      returnSequences: true,
      dropout: 0.5,
      recurrentDropout: 0,
      dropoutMode: mode,
      recurrentBatchNorm: null,
      layerNorm: false,
      kernelInitializer: tf.initializers.ones(),
      recurrentInitializer: tf.initializers.zeros(),
      biasInitializer: tf.initializers.zeros(),
      seed: 11,
      clock,
      inputShape: [8, 1],
    });
    const model = tf.sequential({ layers: [rnn] });
    // h_t = m_t · x_t with x_t = 1: each step's output is its input mask, 0 or 2.
    const { values } = await samplesOf(model, clock, tf.ones([3, 8, 1]), 20, 5);
    const sequences = Array.from({ length: 60 }, (_, r) => Array.from(values.subarray(r * 8, r * 8 + 8)));
    expect(new Set(sequences.flat().map((v) => v.toFixed(4)))).toEqual(new Set(['0.0000', '2.0000']));
    const constant = sequences.filter((s) => s.every((v) => v === s[0]));
    if (constantPerSequence) expect(constant).toHaveLength(60);
    else expect(constant.length).toBeLessThan(10);
    // And off outside sampling.
    expect(Array.from((model.predict(tf.ones([1, 8, 1])) as tf.Tensor).dataSync())).toEqual(new Array(8).fill(1));
    model.dispose();
  });
});

describe('rowsPerCall', () => {
  it('fits many rows of a small model in a call and fewer of a big one, never none', () => {
    const small = rowsPerCall(resolveSpec(tinyIrisSpec()), [4]);
    const big = rowsPerCall(resolveSpec({ dataset: { name: 'mnist', shape: 'image' }, model: { layers: [{ type: 'conv2d', filters: 256, padding: 'same' }, { type: 'flatten' }, { type: 'dense', units: 10 }] } }), [28, 28, 1]);
    expect(small).toBe(65_536);
    expect(big).toBeGreaterThan(0);
    expect(big).toBeLessThan(1000);
  });
});
