import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { MultiHeadAttention, PositionalEmbedding, TransformerDecoderBlock, TransformerEncoderBlock } from '../../src/engine/layers/custom-layers.js';
import type { StepClock } from '../../src/engine/layers/seeded-dropout.js';
import { testBackend } from '../support/test-backend.js';

/**
 * Every reference number here was produced by PyTorch 1.13 (Debian's python3-torch) running
 * scripts/pytorch-reference/attention.py in float64, which wrote test/fixtures/pytorch/attention.json:
 * torch.nn.MultiheadAttention, TransformerEncoderLayer and TransformerDecoderLayer (and attention
 * written out for head widths torch's module cannot have) with random weights, their outputs and the
 * gradients of sum(output · R) with respect to every input and every weight.
 */

interface TensorJson {
  shape: number[];
  values: number[];
}
interface ReferenceCase {
  name: string;
  kind: 'multiHeadAttention' | 'transformerEncoderBlock' | 'transformerDecoderBlock' | 'positionalEmbedding';
  config: Record<string, unknown>;
  inputs: TensorJson[];
  weights: Record<string, TensorJson>;
  upstream: TensorJson;
  output: TensorJson;
  inputGradients: TensorJson[];
  weightGradients: Record<string, TensorJson>;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/pytorch/attention.json'), 'utf8')) as { cases: ReferenceCase[] };
const TOLERANCE = 1e-5;

const maxAbs = (values: ArrayLike<number>) => Array.from(values).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/**
 * max |actual − expected| / max |expected|: the error relative to the tensor's scale. A tensor that
 * is zero in exact arithmetic (the key bias's gradient: softmax ignores a shift shared by a whole
 * row of scores) is float32 cancellation noise in TF.js; it is measured against `zeroScale`, the
 * scale of the terms that cancelled, instead.
 */
function relativeError(actual: ArrayLike<number>, expected: number[], zeroScale = 1): number {
  let diff = 0;
  expected.forEach((value, i) => {
    diff = Math.max(diff, Math.abs(actual[i]! - value));
  });
  const scale = maxAbs(expected);
  return diff / (scale > 1e-12 ? scale : zeroScale);
}

const tensorOf = (t: TensorJson) => tf.tensor(t.values, t.shape, 'float32');

function createLayer(kind: ReferenceCase['kind'], config: Record<string, unknown>, name: string, clock?: StepClock, seed = 1): tf.layers.Layer {
  const init = { kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: tf.initializers.zeros(), seed, ...(clock ? { clock } : {}) };
  switch (kind) {
    case 'multiHeadAttention':
      return new MultiHeadAttention({ name, ...(config as { numHeads: number; keyDim: number }), ...init });
    case 'transformerEncoderBlock':
      return new TransformerEncoderBlock({ name, ...(config as { numHeads: number; ffDim: number }), ...init });
    case 'transformerDecoderBlock':
      return new TransformerDecoderBlock({ name, ...(config as { numHeads: number; ffDim: number }), ...init });
    case 'positionalEmbedding':
      return new PositionalEmbedding({ name, ...(config as { mode: 'learned'; maxLength: number }), seed });
  }
}

/** A layer's weights by their names inside the layer ('query/kernel', 'feedforward_norm/gamma', …). */
function weightsOf(layer: tf.layers.Layer): Map<string, tf.LayerVariable> {
  return new Map(layer.weights.map((w) => [w.originalName.slice(layer.name.length + 1), w]));
}

const callInputs = (inputs: tf.Tensor[]) => (inputs.length === 1 ? inputs[0]! : inputs);

const worst: Array<[string, number]> = [];

beforeAll(async () => {
  await selectBackend(testBackend);
});

afterAll(() => {
  worst.sort((a, b) => b[1] - a[1]);
  console.log(`attention layers vs PyTorch on ${testBackend}, largest relative errors:\n${worst.slice(0, 5).map(([what, e]) => `  ${e.toExponential(2)}  ${what}`).join('\n')}`);
});

describe('attention-family layers equal PyTorch: outputs and the gradients of every input and weight', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const layer = createLayer(c.kind, c.config, 'layer');
    const inputs = c.inputs.map(tensorOf);
    const upstream = tensorOf(c.upstream);
    tf.dispose(layer.apply(callInputs(inputs)) as tf.Tensor);

    const weights = weightsOf(layer);
    expect([...weights.keys()].sort()).toEqual(Object.keys(c.weights).sort());
    for (const [name, value] of Object.entries(c.weights)) weights.get(name)!.write(tensorOf(value));

    const gradientScale = Math.max(...[...c.inputGradients, ...Object.values(c.weightGradients)].map((g) => maxAbs(g.values)));
    const check = (what: string, actual: tf.Tensor, expected: TensorJson) => {
      expect(actual.shape, what).toEqual(expected.shape);
      const error = relativeError(actual.dataSync(), expected.values, gradientScale);
      worst.push([`${c.name}: ${what}`, error]);
      expect(error, `${what}: relative error ${error}`).toBeLessThanOrEqual(TOLERANCE);
    };

    const output = layer.apply(callInputs(inputs), { training: true }) as tf.Tensor;
    check('output', output, c.output);

    const loss = (...xs: tf.Tensor[]) => tf.sum(tf.mul(layer.apply(callInputs(xs), { training: true }) as tf.Tensor, upstream)) as tf.Scalar;
    const inputGradients = tf.grads(loss)(inputs);
    inputGradients.forEach((g, i) => check(`d/d input ${i}`, g, c.inputGradients[i]!));

    if (weights.size > 0) {
      const variables = [...weights.values()].map((w) => w.read() as tf.Variable);
      const { grads } = tf.variableGrads(() => loss(...inputs), variables);
      for (const [name, w] of weights) check(`d/d ${name}`, grads[(w.read() as tf.Variable).name]!, c.weightGradients[name]!);
      tf.dispose(grads);
    }
    tf.dispose([...inputs, upstream, output, ...inputGradients]);
    layer.dispose();
  });
});

describe('causal masking', () => {
  /** Output positions 0 … cut − 1 are unchanged (bit for bit) when positions ≥ cut of the input change; later ones change. */
  function expectCausal(layer: tf.layers.Layer, makeInputs: (x: tf.Tensor) => tf.Tensor | tf.Tensor[], t: number, d: number, cut: number) {
    const x = tf.randomNormal([2, t, d], 0, 1, 'float32', 11);
    const changed = tf.concat([tf.slice(x, [0, 0, 0], [-1, cut, -1]), tf.randomNormal([2, t - cut, d], 0, 1, 'float32', 12)], 1);
    const before = layer.apply(makeInputs(x)) as tf.Tensor;
    const after = layer.apply(makeInputs(changed)) as tf.Tensor;
    expect(Array.from(tf.slice(after, [0, 0, 0], [-1, cut, -1]).dataSync())).toEqual(Array.from(tf.slice(before, [0, 0, 0], [-1, cut, -1]).dataSync()));
    const later = tf.max(tf.abs(tf.sub(tf.slice(after, [0, cut, 0], [-1, -1, -1]), tf.slice(before, [0, cut, 0], [-1, -1, -1])))).dataSync()[0]!;
    expect(later).toBeGreaterThan(1e-3);
  }

  it('multi-head attention: query i sees keys ≤ i only', () => {
    expectCausal(new MultiHeadAttention({ name: 'mha', numHeads: 2, keyDim: 3, causal: true, seed: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }), (x) => x, 7, 6, 4);
  });

  it('encoder block (pre-LN and post-LN)', () => {
    for (const normFirst of [false, true]) {
      expectCausal(new TransformerEncoderBlock({ name: `enc${normFirst}`, numHeads: 2, ffDim: 8, causal: true, normFirst, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }), (x) => x, 6, 4, 2);
    }
  });

  it('decoder block: the target is causal, the memory is seen whole', () => {
    const memory = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 13);
    const layer = new TransformerDecoderBlock({ name: 'dec', numHeads: 2, ffDim: 8, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) });
    expectCausal(layer, (x) => [x, memory], 5, 4, 3);
    // Every target position attends to every memory position.
    const x = tf.randomNormal([2, 5, 4], 0, 1, 'float32', 14);
    const lastMemoryChanged = tf.concat([tf.slice(memory, [0, 0, 0], [-1, 2, -1]), tf.ones([2, 1, 4])], 1);
    const a = layer.apply([x, memory]) as tf.Tensor;
    const b = layer.apply([x, lastMemoryChanged]) as tf.Tensor;
    const firstRowChange = tf.max(tf.abs(tf.sub(tf.slice(a, [0, 0, 0], [-1, 1, -1]), tf.slice(b, [0, 0, 0], [-1, 1, -1])))).dataSync()[0]!;
    expect(firstRowChange).toBeGreaterThan(1e-3);
  });

  it('a non-causal layer does let later positions change earlier outputs', () => {
    const layer = new MultiHeadAttention({ name: 'mha_full', numHeads: 2, keyDim: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) });
    const x = tf.randomNormal([1, 5, 6], 0, 1, 'float32', 21);
    const changed = tf.concat([tf.slice(x, [0, 0, 0], [-1, 4, -1]), tf.ones([1, 1, 6])], 1);
    const difference = tf.max(tf.abs(tf.sub(tf.slice(layer.apply(x) as tf.Tensor, [0, 0, 0], [-1, 1, -1]), tf.slice(layer.apply(changed) as tf.Tensor, [0, 0, 0], [-1, 1, -1])))).dataSync()[0]!;
    expect(difference).toBeGreaterThan(1e-3);
  });
});

describe('seeded dropout', () => {
  const kernelNames = (f: () => tf.TensorContainer) => tf.profile(f).then((info) => info.kernelNames);
  const x = () => tf.randomNormal([2, 5, 8], 0, 1, 'float32', 31);

  /** Two instances with the same seed and weights, as a run and its resumed copy would have them. */
  function pair(kind: 'multiHeadAttention' | 'transformerEncoderBlock' | 'transformerDecoderBlock', rate: number, seed: number) {
    const config = kind === 'multiHeadAttention' ? { numHeads: 2, keyDim: 4, dropout: rate } : { numHeads: 2, ffDim: 16, dropout: rate };
    const clocks: [StepClock, StepClock] = [{ step: 0 }, { step: 0 }];
    const layers = clocks.map((clock, i) => createLayer(kind, config, `${kind}_${rate}_${i}`, clock, seed));
    const input = kind === 'transformerDecoderBlock' ? [x(), tf.randomNormal([2, 3, 8], 0, 1, 'float32', 32)] : x();
    for (const layer of layers) tf.dispose(layer.apply(input) as tf.Tensor);
    layers[1]!.setWeights(layers[0]!.getWeights());
    const run = (i: number, step: number, training = true) => {
      clocks[i]!.step = step;
      return Array.from((layers[i]!.apply(input, { training }) as tf.Tensor).dataSync());
    };
    return { layers, input, run };
  }

  for (const kind of ['multiHeadAttention', 'transformerEncoderBlock', 'transformerDecoderBlock'] as const) {
    it(`${kind}: same seed and step → the same mask (in a second instance too); another step → another mask`, () => {
      const { run } = pair(kind, 0.3, 9);
      const atStep3 = run(0, 3);
      expect(run(0, 3)).toEqual(atStep3);
      expect(run(1, 3)).toEqual(atStep3);
      expect(run(0, 4)).not.toEqual(atStep3);
      // Inference draws no mask.
      expect(run(0, 3, false)).not.toEqual(atStep3);
      expect(run(0, 4, false)).toEqual(run(0, 3, false));
    });

    it(`${kind}: another seed → another mask`, () => {
      const a = pair(kind, 0.3, 9);
      const b = pair(kind, 0.3, 10);
      b.layers[0]!.setWeights(a.layers[0]!.getWeights());
      expect(b.run(0, 3)).not.toEqual(a.run(0, 3));
    });

    it(`${kind}: at rate 0 training runs exactly the inference kernels (no dropout op)`, async () => {
      const { layers, input, run } = pair(kind, 0, 9);
      const training = await kernelNames(() => layers[0]!.apply(input, { training: true }) as tf.Tensor);
      const inference = await kernelNames(() => layers[0]!.apply(input, { training: false }) as tf.Tensor);
      expect(training).toEqual(inference);
      expect(run(0, 3)).toEqual(run(0, 3, false));
      const dropping = pair(kind, 0.3, 9);
      expect((await kernelNames(() => dropping.layers[0]!.apply(dropping.input, { training: true }) as tf.Tensor)).length).toBeGreaterThan(training.length);
    });
  }

  it('the attention probabilities are dropped: rows of kept weights are rescaled by 1/(1 − rate)', () => {
    // With value = identity and no output projection effect, the output rows are the dropped probabilities.
    const layer = new MultiHeadAttention({ name: 'probe', numHeads: 1, keyDim: 4, dropout: 0.5, useBias: false, seed: 5, clock: { step: 2 } });
    const input = tf.randomNormal([1, 4, 4], 0, 1, 'float32', 41);
    tf.dispose(layer.apply(input) as tf.Tensor);
    const w = weightsOf(layer);
    w.get('value/kernel')!.write(tf.eye(4));
    w.get('output/kernel')!.write(tf.eye(4));
    // Identical keys: every probability is 1/4.
    w.get('query/kernel')!.write(tf.zeros([4, 4]));
    const out = (layer.apply(tf.eye(4).reshape([1, 4, 4]), { training: true }) as tf.Tensor).dataSync();
    const values = new Set(Array.from(out).map((v) => Math.round(v * 1e6) / 1e6));
    expect([...values].sort()).toEqual([0, 0.5]);
  });
});

describe('positional embedding', () => {
  it('a sequence longer than maxLength is refused', () => {
    const layer = new PositionalEmbedding({ name: 'pe', mode: 'sinusoidal', maxLength: 4 });
    expect(() => layer.apply(tf.zeros([1, 5, 2]))).toThrow(/exceeds maxLength 4/);
    expect(() => tf.sequential({ layers: [new PositionalEmbedding({ name: 'pe2', mode: 'learned', maxLength: 4, inputShape: [6, 2] })] })).toThrow(/exceeds maxLength 4/);
  });

  it('sinusoidal has no weights; learned is seeded', () => {
    const sinusoidal = new PositionalEmbedding({ name: 'pe_s', mode: 'sinusoidal', maxLength: 8 });
    tf.dispose(sinusoidal.apply(tf.zeros([1, 3, 4])) as tf.Tensor);
    expect(sinusoidal.weights).toHaveLength(0);
    const table = (seed: number) => {
      const layer = new PositionalEmbedding({ name: `pe_l${seed}`, mode: 'learned', maxLength: 8, seed });
      tf.dispose(layer.apply(tf.zeros([1, 3, 4])) as tf.Tensor);
      return Array.from(layer.getWeights()[0]!.dataSync());
    };
    expect(table(3)).toEqual(table(3));
    expect(table(3)).not.toEqual(table(4));
  });
});

describe('seeded initialization', () => {
  it('the same seeded initializer gives the same weights; query, key and value kernels still differ from each other', () => {
    const make = (name: string) => {
      const layer = new TransformerEncoderBlock({ name, numHeads: 2, ffDim: 8, kernelInitializer: tf.initializers.glorotUniform({ seed: 77 }) });
      tf.dispose(layer.apply(tf.zeros([1, 3, 4])) as tf.Tensor);
      return weightsOf(layer);
    };
    const a = make('a');
    const b = make('b');
    for (const [name, w] of a) expect(Array.from(w.read().dataSync()), name).toEqual(Array.from(b.get(name)!.read().dataSync()));
    const q = Array.from(a.get('self_attention/query/kernel')!.read().dataSync());
    expect(Array.from(a.get('self_attention/key/kernel')!.read().dataSync())).not.toEqual(q);
    expect(Array.from(a.get('self_attention/value/kernel')!.read().dataSync())).not.toEqual(q);
  });
});

describe('serialisation', () => {
  /** A small encoder-decoder using every class: source → positions → encoder; target → positions → decoder → cross-attention. */
  function buildModel(): tf.LayersModel {
    const glorot = (seed: number) => tf.initializers.glorotUniform({ seed });
    const source = tf.input({ shape: [6, 8], name: 'source' });
    const target = tf.input({ shape: [5, 8], name: 'target' });
    const sourcePositions = new PositionalEmbedding({ name: 'source_positions', mode: 'sinusoidal', maxLength: 16 }).apply(source) as tf.SymbolicTensor;
    const memory = new TransformerEncoderBlock({ name: 'encoder', numHeads: 2, ffDim: 16, activation: 'gelu', normFirst: true, causal: true, dropout: 0.1, kernelInitializer: glorot(1), seed: 4 }).apply(sourcePositions) as tf.SymbolicTensor;
    const targetPositions = new PositionalEmbedding({ name: 'target_positions', mode: 'learned', maxLength: 10, seed: 2 }).apply(target) as tf.SymbolicTensor;
    const decoded = new TransformerDecoderBlock({ name: 'decoder', numHeads: 4, ffDim: 12, epsilon: 1e-3, kernelInitializer: glorot(3) }).apply([targetPositions, memory]) as tf.SymbolicTensor;
    const attended = new MultiHeadAttention({ name: 'cross', numHeads: 2, keyDim: 3, valueDim: 5, outputDim: 7, causal: true, kernelInitializer: glorot(5), biasInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.1, seed: 6 }) }).apply([decoded, memory, sourcePositions]) as tf.SymbolicTensor;
    return tf.model({ inputs: [source, target], outputs: attended });
  }

  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'trainyard-attention-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('saves, loads back in this process, and predicts the same', async () => {
    const model = buildModel();
    const inputs = [tf.randomNormal([2, 6, 8], 0, 1, 'float32', 51), tf.randomNormal([2, 5, 8], 0, 1, 'float32', 52)];
    const expected = (model.predict(inputs) as tf.Tensor).dataSync();
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const classNames = (saved!.modelTopology as { config: { layers: Array<{ class_name: string }> } }).config.layers.map((l) => l.class_name);
    expect(classNames).toEqual(expect.arrayContaining(['TrainyardPositionalEmbedding', 'TrainyardTransformerEncoderBlock', 'TrainyardTransformerDecoderBlock', 'TrainyardMultiHeadAttention']));
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
    expect(Array.from((loaded.predict(inputs) as tf.Tensor).dataSync())).toEqual(Array.from(expected));
    expect(loaded.getLayer('encoder').getConfig()).toEqual(model.getLayer('encoder').getConfig());
  });

  it('loads in a process that imports only @tensorflow/tfjs and custom-layers.ts', async () => {
    const model = buildModel();
    const inputs = [tf.randomNormal([2, 6, 8], 0, 1, 'float32', 53), tf.randomNormal([2, 5, 8], 0, 1, 'float32', 54)];
    const expected = Array.from((model.predict(inputs) as tf.Tensor).dataSync());
    // A file handler: model.json with the topology and weight specs, weights.bin with the values.
    await model.save(tf.io.withSaveHandler(async (artifacts) => {
      writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: artifacts.modelTopology, weightSpecs: artifacts.weightSpecs }));
      writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(artifacts.weightData as ArrayBuffer));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    writeFileSync(path.join(dir, 'inputs.json'), JSON.stringify(await Promise.all(inputs.map(async (t) => ({ shape: t.shape, values: Array.from(await t.data()) })))));
    const script = `
      import { readFileSync } from 'node:fs';
      import * as tf from '@tensorflow/tfjs';
      import './src/engine/layers/custom-layers.ts';
      const dir = process.env.MODEL_DIR;
      const { modelTopology, weightSpecs } = JSON.parse(readFileSync(dir + '/model.json', 'utf8'));
      const bytes = readFileSync(dir + '/weights.bin');
      const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs, weightData }));
      const inputs = JSON.parse(readFileSync(dir + '/inputs.json', 'utf8')).map((t) => tf.tensor(t.values, t.shape));
      process.stdout.write(JSON.stringify({ backend: tf.getBackend(), values: Array.from(model.predict(inputs).dataSync()) }));
    `;
    const stdout = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, env: { ...process.env, MODEL_DIR: dir }, encoding: 'utf8' });
    const result = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { backend: string; values: number[] };
    expect(result.backend).toBe('cpu');
    // Another backend (plain JS there): the same formulas in float32, summed in another order.
    expect(relativeError(result.values, expected)).toBeLessThan(1e-5);
  }, 120_000);

  it('custom-layers.ts imports nothing but @tensorflow/tfjs and the layer classes', () => {
    const imports = (file: string): string[] => [...readFileSync(path.join(repoRoot, 'src/engine/layers', file), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of imports(file)) {
        if (spec === '@tensorflow/tfjs') continue;
        expect(spec, `${file} imports ${spec}`).toMatch(/^\.\/[a-z-]+\.js$/);
        visit(spec.slice(2).replace(/\.js$/, '.ts'));
      }
    };
    visit('custom-layers.ts');
    expect([...seen].sort()).toEqual(['custom-layers.ts', 'fused-kernel-names.ts', 'fused-matmul-gradient.ts', 'gradient-reach.ts', 'layer-normalization.ts', 'multi-head-attention.ts', 'positional-embedding.ts', 'seeded-dropout.ts', 'time-slice.ts', 'transformer-decoder-block.ts', 'transformer-encoder-block.ts']);
  });
});

describe('training through tf.LayersModel', () => {
  it('fit updates every weight of the blocks and lowers the loss', async () => {
    const source = tf.input({ shape: [4, 8] });
    const target = tf.input({ shape: [3, 8] });
    const memory = new TransformerEncoderBlock({ name: 'fit_encoder', numHeads: 2, ffDim: 16, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(
      new PositionalEmbedding({ name: 'fit_positions', mode: 'learned', maxLength: 4, seed: 2 }).apply(source),
    ) as tf.SymbolicTensor;
    const decoded = new TransformerDecoderBlock({ name: 'fit_decoder', numHeads: 2, ffDim: 16, normFirst: true, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply([target, memory]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [source, target], outputs: decoded });
    expect(model.trainableWeights).toHaveLength(1 + 16 + 26);
    const before = model.getWeights().map((w) => Array.from(w.dataSync()));
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
    const xs = [tf.randomNormal([8, 4, 8], 0, 1, 'float32', 61), tf.randomNormal([8, 3, 8], 0, 1, 'float32', 62)];
    const ys = tf.randomNormal([8, 3, 8], 0, 1, 'float32', 63);
    const history = await model.fit(xs, ys, { epochs: 20, batchSize: 8, verbose: 0, shuffle: false });
    const losses = history.history['loss'] as number[];
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.9);
    model.getWeights().forEach((w, i) => {
      // The key bias's gradient is zero in exact arithmetic (a shift of a whole row of scores); whether float noise moves it is not the point.
      if (!model.weights[i]!.name.endsWith('key/bias')) expect(Array.from(w.dataSync()), model.weights[i]!.name).not.toEqual(before[i]);
    });
  });
});
