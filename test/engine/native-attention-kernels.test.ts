import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { installNativeKernels, loadNativeAddon, uninstallNativeKernels, type NativeAddon } from '../../src/engine/backends/native-kernels.js';
import { ATTENTION_GRAD_KERNEL, ATTENTION_KERNEL } from '../../src/engine/layers/fused-kernel-names.js';
import { fusedLayerNormAvailable, LayerNormalization, layerNorm } from '../../src/engine/layers/layer-normalization.js';
import { fusedAttentionAvailable, MultiHeadAttention } from '../../src/engine/layers/multi-head-attention.js';

// The hot ops of Transformer and depthwise/separable-convolution layers on the native backend
// (batched matmul, softmax and its gradient, layer normalization, fused attention, depthwise convolution), each
// against the stock kernels, as test/engine/native-kernels.test.ts does for the others.
const haveAddon = existsSync(new URL('../../native/build/Release/trainyard_native.node', import.meta.url));

/** max |a − b| / max(1, max |b|); NaN against NaN and equal infinities count as no error. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    const [a, b] = [actual[i]!, expected[i]!];
    if (a === b || (Number.isNaN(a) && Number.isNaN(b))) continue;
    worst = Math.max(worst, Number.isFinite(a) && Number.isFinite(b) ? Math.abs(a - b) : Infinity);
    if (Number.isFinite(b)) scale = Math.max(scale, Math.abs(b));
  }
  return worst / scale;
}

const valuesOf = (out: tf.Tensor | tf.Tensor[]) => {
  const list = Array.isArray(out) ? out : [out];
  const values = list.map((t) => t.dataSync() as Float32Array);
  tf.dispose(list);
  return values;
};

/** The same computation with the native kernels and with the stock wasm ones. */
function bothWays(compute: () => tf.Tensor | tf.Tensor[], addon: NativeAddon): [Float32Array[], Float32Array[]] {
  const native = valuesOf(tf.tidy(compute));
  uninstallNativeKernels();
  try {
    return [native, valuesOf(tf.tidy(compute))];
  } finally {
    installNativeKernels(addon, 1);
  }
}

/** The computation on the native backend and on TF.js's cpu backend (for kernels tfjs-backend-wasm lacks). */
async function nativeAndCpu(compute: () => tf.Tensor | tf.Tensor[]): Promise<[Float32Array[], Float32Array[]]> {
  const native = valuesOf(tf.tidy(compute));
  await tf.setBackend('cpu');
  try {
    return [native, valuesOf(tf.tidy(compute))];
  } finally {
    await tf.setBackend('wasm');
  }
}

const random = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

describe.skipIf(!haveAddon && !process.env.CI)('attention and depthwise-convolution kernels on the native backend against the stock ones', () => {
  let addon: NativeAddon;
  beforeAll(async () => {
    expect(haveAddon, 'native/build/Release/trainyard_native.node is missing: apt-get install libopenblas-dev && npm install').toBe(true);
    const loaded = loadNativeAddon();
    if (loaded instanceof Error) throw loaded;
    addon = loaded;
    expect((await selectBackend('native')).name).toBe('native');
  });
  afterAll(async () => {
    await selectBackend('wasm');
  });

  // [B·heads, T, dk] products of attention, and a projection of [B, T, d] by one [d, e] matrix.
  const matMulCases: [string, number[], number[], boolean, boolean][] = [
    ['scores q kᵀ [B·heads, T, dk] × [B·heads, T, dk]ᵀ', [8, 10, 6], [8, 10, 6], false, true],
    ['scores q × kᵀ given as [B·heads, dk, T]', [8, 10, 6], [8, 6, 10], false, false],
    ['attention-weighted values [B·heads, T, T] × [B·heads, T, dk]', [8, 10, 10], [8, 10, 6], false, false],
    ['rank 4 [B, heads, T, dk] × [B, heads, T, dk]ᵀ', [2, 4, 10, 6], [2, 4, 10, 6], false, true],
    ['aᵀ b, batched', [5, 7, 3], [5, 7, 4], true, false],
    ['aᵀ bᵀ, batched', [5, 7, 3], [5, 4, 7], true, true],
    ['[B, T, d] × [d, e]: ranks differ', [3, 10, 16], [16, 12], false, false],
    ['[B, T, d] × [e, d]ᵀ', [3, 10, 16], [12, 16], false, true],
    ['[B, d, T]ᵀ × [d, e]: a transposed, b shared', [3, 16, 10], [16, 12], true, false],
    ['[d, e]ᵀ × [B, d, T]: a shared', [16, 12], [3, 16, 10], true, false],
    ['b\'s batch of one against a\'s rank-4 batch', [2, 3, 5, 4], [1, 4, 6], false, false],
  ];
  for (const [name, aShape, bShape, transposeA, transposeB] of matMulCases) {
    it(`matMul and its gradients: ${name}`, () => {
      const compute = () => {
        const [a, b] = [random(aShape, 1), random(bShape, 2)];
        const out = tf.matMul(a, b, transposeA, transposeB);
        const weights = random(out.shape, 3);
        return [out, ...tf.grads((x, y) => tf.matMul(x, y, transposeA, transposeB).mul(weights).sum())([a, b])];
      };
      const [native, stock] = bothWays(compute, addon);
      native.forEach((values, i) => expect(relativeError(values, stock[i]!), ['forward', 'da', 'db'][i]).toBeLessThanOrEqual(1e-5));
    });
  }

  it('matMul over batch axes that broadcast both ways ([2, 1] against [1, 3]): each product as the 2-D one (the stock wasm kernel gets these wrong)', () => {
    const [a, b] = [random([2, 1, 4, 5], 4), random([1, 3, 5, 6], 5)];
    const out = tf.matMul(a, b);
    expect(out.shape).toEqual([2, 3, 4, 6]);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        const expected = tf.matMul(a.slice([i, 0, 0, 0], [1, 1, 4, 5]).reshape([4, 5]), b.slice([0, j, 0, 0], [1, 1, 5, 6]).reshape([5, 6]));
        const actual = out.slice([i, j, 0, 0], [1, 1, 4, 6]).reshape([4, 6]);
        expect(relativeError(actual.dataSync() as Float32Array, expected.dataSync() as Float32Array)).toBeLessThanOrEqual(1e-6);
        tf.dispose([expected, actual]);
      }
    }
    tf.dispose([a, b, out]);
  });

  it("a broadcast input's gradient is summed over the axes it was broadcast along (tfjs-core's gradient fails there): as through an explicit tile", () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[3, 10, 16], [16, 12], false, false],
      [[3, 10, 16], [12, 16], false, true],
      [[3, 16, 10], [1, 16, 12], true, false],
      [[16, 12], [3, 16, 10], true, false],
      [[2, 1, 4, 5], [1, 3, 5, 6], false, false],
    ];
    for (const [aShape, bShape, transposeA, transposeB] of cases) {
      const [native, stock] = bothWays(() => {
        const [a, b] = [random(aShape, 6), random(bShape, 7)];
        const outShape = tf.matMul(a, b, transposeA, transposeB).shape;
        const weights = random(outShape, 8);
        const batch = outShape.slice(0, -2);
        // The reference: both sides tiled to the output's batch, so no axis broadcasts.
        const expand = (t: tf.Tensor) => {
          const padded = tf.reshape(t, [...Array<number>(batch.length + 2 - t.rank).fill(1), ...t.shape]);
          return tf.tile(padded, [...batch.map((d, i) => (padded.shape[i] === 1 ? d : 1)), 1, 1]);
        };
        const broadcast = tf.grads((x, y) => tf.matMul(x, y, transposeA, transposeB).mul(weights).sum())([a, b]);
        const tiled = tf.grads((x, y) => tf.matMul(expand(x), expand(y), transposeA, transposeB).mul(weights).sum())([a, b]);
        return [...broadcast, ...tiled];
      }, addon);
      expect(native[0]!.length).toBe(aShape.reduce((p, q) => p * q, 1));
      expect(native[1]!.length).toBe(bShape.reduce((p, q) => p * q, 1));
      // The stock wasm kernel's forward is wrong where both sides broadcast (see above).
      const bothBroadcast = aShape.length === 4;
      for (const values of bothBroadcast ? [native] : [native, stock]) {
        expect(relativeError(values[0]!, values[2]!), `da ${aShape} × ${bShape}`).toBeLessThanOrEqual(1e-5);
        expect(relativeError(values[1]!, values[3]!), `db ${aShape} × ${bShape}`).toBeLessThanOrEqual(1e-5);
      }
    }
  });

  it('softmax over the last axis and its gradient as one kernel: the stock values, and the bits of tfjs-core\'s formula on the native kernels', () => {
    const logits = () => tf.mul(random([8, 12, 12], 9), 3);
    const [native, stock] = bothWays(() => {
      const x = logits();
      const weights = random(x.shape, 10);
      return [tf.softmax(x), tf.grad((v) => tf.softmax(v).mul(weights).sum())(x)];
    }, addon);
    native.forEach((values, i) => expect(relativeError(values, stock[i]!), ['softmax', 'gradient'][i]).toBeLessThanOrEqual(1e-6));
    // tfjs-core's gradient, spelled out, on the native kernels (whose Mul, Sum and Sub it is made of).
    const composed = tf.tidy(() => {
      const x = logits();
      const [y, dy] = [tf.softmax(x), random(x.shape, 10)];
      const dyTimesY = tf.mul(dy, y);
      return tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [-1], true), y)).dataSync() as Float32Array;
    });
    expect(Array.from(native[1]!)).toEqual(Array.from(composed));
  });

  it('a causal mask (−1e9 added to future logits) gives exact zeros there and, elsewhere, the softmax of the visible logits alone', () => {
    const steps = 7;
    const [native, stock] = bothWays(() => {
      const logits = tf.mul(random([3, steps, steps], 11), 4);
      const future = tf.sub(1, tf.linalg.bandPart(tf.ones([steps, steps]), -1, 0));
      const masked = tf.softmax(tf.add(logits, tf.mul(future, -1e9)));
      const weights = random(logits.shape, 12);
      return [masked, tf.grad((v) => tf.softmax(tf.add(v, tf.mul(future, -1e9))).mul(weights).sum())(logits), logits];
    }, addon);
    const [probabilities, gradient, logits] = native as [Float32Array, Float32Array, Float32Array];
    expect(relativeError(probabilities, stock[0]!)).toBeLessThanOrEqual(1e-6);
    expect(relativeError(gradient, stock[1]!)).toBeLessThanOrEqual(1e-6);
    for (let row = 0; row < 3 * steps; row++) {
      const t = row % steps;
      const visible = Array.from(logits.subarray(row * steps, row * steps + t + 1));
      const max = Math.max(...visible);
      const total = visible.reduce((sum, v) => sum + Math.exp(v - max), 0);
      for (let j = 0; j < steps; j++) {
        const p = probabilities[row * steps + j]!;
        if (j > t) {
          expect(p, `row ${row}, masked ${j}`).toBe(0);
          expect(Math.abs(gradient[row * steps + j]!), `row ${row}, masked ${j}'s gradient`).toBe(0);
        } else {
          expect(Math.abs(p - Math.exp(visible[j]! - max) / total), `row ${row}, ${j}`).toBeLessThanOrEqual(1e-6);
        }
      }
    }
  });

  it('softmax with −∞ masks and a fully masked row: the stock kernel\'s zeros and NaNs', () => {
    const [native, stock] = bothWays(() => {
      const x = tf.tensor2d([
        [1, -Infinity, 2, -Infinity],
        [-Infinity, -Infinity, -Infinity, -Infinity],
        [3, 3, 3, 3],
      ]);
      return tf.softmax(x);
    }, addon);
    expect(relativeError(native[0]!, stock[0]!)).toBeLessThanOrEqual(1e-6);
    expect(Array.from(native[0]!.subarray(4, 8)).every(Number.isNaN), 'the fully masked row').toBe(true);
    expect([native[0]![1], native[0]![3]]).toEqual([0, 0]);
  });

  const layerNormCases: [string, number[], { center?: boolean; scale?: boolean; epsilon?: number }, number][] = [
    ['[B, T, d], γ and β', [4, 9, 32], {}, 0],
    ['[B, d], ε 1e-6', [16, 48], { epsilon: 1e-6 }, 0],
    ['values around 50 (a mean far from 0)', [4, 9, 32], {}, 50],
    ['no β (center false)', [3, 5, 17], { center: false }, 0],
    ['no γ (scale false)', [3, 5, 17], { scale: false }, 0],
  ];
  for (const [name, shape, args, shift] of layerNormCases) {
    it(`layer normalization, forward and the gradients of x, γ and β, as TF.js's layer computes them: ${name}`, () => {
      const cols = shape.at(-1)!;
      const epsilon = args.epsilon ?? 1e-3;
      const [gamma, beta] = [tf.add(random([cols], 20), 1), random([cols], 21)];
      const ours = new LayerNormalization(args);
      ours.build(shape);
      ours.setWeights([...(args.scale === false ? [] : [gamma]), ...(args.center === false ? [] : [beta])]);
      // TF.js's own layer: with γ = 1 or β = 0 in place of a missing one (tfjs-layers 4.22 cannot
      // take gradients through its layer without γ or β: batchNorm's gradient reads them).
      const stock = tf.layers.layerNormalization({ epsilon });
      stock.build(shape);
      stock.setWeights([args.scale === false ? tf.ones([cols]) : gamma, args.center === false ? tf.zeros([cols]) : beta]);
      const run = (layer: tf.layers.Layer, wanted: number[]) => {
        const x = tf.add(tf.mul(random(shape, 13), 2), shift);
        const weights = random(shape, 14);
        const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
        const loss = () => (layer.apply(x) as tf.Tensor).mul(weights).sum() as tf.Scalar;
        const { grads } = tf.variableGrads(loss, variables);
        const dx = tf.grad((v) => (layer.apply(v) as tf.Tensor).mul(weights).sum())(x);
        return [layer.apply(x) as tf.Tensor, dx, ...wanted.map((i) => grads[variables[i]!.name]!)];
      };
      expect(fusedLayerNormAvailable()).toBe(true);
      const native = valuesOf(tf.tidy(() => run(ours, ours.trainableWeights.map((_, i) => i))));
      uninstallNativeKernels();
      let reference: Float32Array[];
      try {
        reference = valuesOf(tf.tidy(() => run(stock, [...(args.scale === false ? [] : [0]), ...(args.center === false ? [] : [1])])));
      } finally {
        installNativeKernels(addon, 1);
      }
      const labels = ['forward', 'dx', ...ours.trainableWeights.map((w) => `d${w.originalName}`)];
      // Far from 0, TF.js's float32 moments lose a few bits (x − mean cancels); the fused kernel's
      // row sums run in double: there both are held to a float64 reference, the fused one closer.
      const tolerance = shift === 0 ? 2e-6 : 5e-6;
      native.forEach((values, i) => expect(relativeError(values, reference[i]!), labels[i]).toBeLessThanOrEqual(tolerance));
      if (shift !== 0) {
        const x = tf.tidy(() => tf.add(tf.mul(random(shape, 13), 2), shift).dataSync() as Float32Array);
        const [g, b] = [gamma.dataSync(), beta.dataSync()];
        const exact = new Float64Array(x.length);
        for (let row = 0; row < x.length / cols; row++) {
          const values = Array.from(x.subarray(row * cols, (row + 1) * cols));
          const mean = values.reduce((p, q) => p + q, 0) / cols;
          const variance = values.reduce((p, q) => p + (q - mean) ** 2, 0) / cols;
          values.forEach((v, j) => (exact[row * cols + j] = ((v - mean) / Math.sqrt(variance + epsilon)) * g[j]! + b[j]!));
        }
        const error = (values: Float32Array) => Math.max(...Array.from(values, (v, i) => Math.abs(v - exact[i]!)));
        expect(error(native[0]!), 'fused against float64').toBeLessThanOrEqual(1e-6 * Math.max(...Array.from(exact, Math.abs)));
        expect(error(native[0]!)).toBeLessThan(error(reference[0]!));
      }
      tf.dispose([gamma, beta]);
    });
  }

  it("layerNorm() off the native backend is TF.js's layer to the bit; on it, one fused kernel runs each way", async () => {
    const x = tf.mul(random([6, 24], 15), 3);
    const [gamma, beta] = [random([24], 16), random([24], 17)];
    const stockLayer = tf.layers.layerNormalization({ epsilon: 1e-5 });
    stockLayer.build(x.shape);
    stockLayer.setWeights([gamma, beta]);
    uninstallNativeKernels();
    try {
      expect(fusedLayerNormAvailable()).toBe(false);
      const [ours, theirs] = [layerNorm(x, gamma, beta, 1e-5), stockLayer.apply(x) as tf.Tensor];
      expect(Array.from(ours.dataSync())).toEqual(Array.from(theirs.dataSync()));
      tf.dispose([ours, theirs]);
    } finally {
      installNativeKernels(addon, 1);
    }
    const profile = await tf.profile(() => tf.grads((v, g, b) => layerNorm(v, g, b, 1e-5).sum())([x, gamma, beta]));
    const names = profile.kernelNames;
    expect(names).toContain('TrainyardLayerNorm');
    expect(names).toContain('TrainyardLayerNormGrad');
    expect(names).not.toContain('Tile');
    tf.dispose([x, gamma, beta]);
  });

  // The layer's output and the gradients of its inputs and its eight weights.
  const attentionCases: Array<{ name: string; heads: number; keyDim: number; valueDim?: number; outputDim?: number; causal?: boolean; query: number[]; value?: number[] }> = [
    { name: 'self-attention [4, 10, 16], 2 heads', heads: 2, keyDim: 8, query: [4, 10, 16] },
    { name: 'causal self-attention [3, 9, 12], 3 heads', heads: 3, keyDim: 4, causal: true, query: [3, 9, 12] },
    { name: 'cross-attention, query [3, 5, 12] to value [3, 7, 10], keyDim 6, valueDim 4, outputDim 9', heads: 3, keyDim: 6, valueDim: 4, outputDim: 9, query: [3, 5, 12], value: [3, 7, 10] },
  ];
  for (const threads of [1, 2]) {
    for (const c of attentionCases) {
      it(`${threads} thread(s), ${c.name}: the fused kernels give the composed ops' output and gradients, to the bit`, () => {
        const layer = new MultiHeadAttention({ name: 'mha', numHeads: c.heads, keyDim: c.keyDim, valueDim: c.valueDim ?? null, outputDim: c.outputDim ?? null, causal: c.causal ?? false, kernelInitializer: tf.initializers.glorotUniform({ seed: 31 }), biasInitializer: tf.initializers.randomNormal({ seed: 32 }) });
        const inputs = [random(c.query, 33), ...(c.value ? [random(c.value, 34)] : [])];
        layer.apply(inputs.map((x) => tf.input({ shape: x.shape.slice(1) })));
        const compute = () => {
          const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
          const weights = random([...c.query.slice(0, -1), c.outputDim ?? c.query.at(-1)!], 35);
          const apply = (...xs: tf.Tensor[]) => (layer.apply(xs.length === 1 ? xs[0]! : xs, { training: true }) as tf.Tensor).mul(weights).sum() as tf.Scalar;
          const { grads } = tf.variableGrads(() => apply(...inputs), variables);
          return [layer.apply(inputs.length === 1 ? inputs[0]! : inputs) as tf.Tensor, ...tf.grads(apply)(inputs), ...variables.map((v) => grads[v.name]!)];
        };
        installNativeKernels(addon, threads);
        try {
          expect(fusedAttentionAvailable()).toBe(true);
          const fused = valuesOf(tf.tidy(compute));
          const kernel = tf.getKernel(ATTENTION_KERNEL, 'wasm')!;
          tf.unregisterKernel(ATTENTION_KERNEL, 'wasm');
          let composed: Float32Array[];
          try {
            composed = valuesOf(tf.tidy(compute));
          } finally {
            tf.registerKernel(kernel);
          }
          expect(fused.length).toBe(composed.length);
          fused.forEach((values, i) => expect(Array.from(values), `output ${i}`).toEqual(Array.from(composed[i]!)));
        } finally {
          installNativeKernels(addon, 1);
          tf.dispose(inputs);
          layer.weights.forEach((w) => w.dispose());
        }
      });
    }
  }

  it('a key and a value of different lengths are refused as the composed ops refuse them, not read past their ends', () => {
    const layer = new MultiHeadAttention({ name: 'mha_unpaired', numHeads: 2, keyDim: 4 });
    const [query, key, value] = [random([2, 3, 8], 37), random([2, 5, 8], 38), random([2, 6, 8], 39)];
    expect(() => tf.tidy(() => layer.apply([query, key, value]) as tf.Tensor)).toThrow(/inner shapes|must match/i);
    tf.dispose([query, key, value]);
    layer.weights.forEach((w) => w.dispose());
  });

  it('attention runs as one kernel each way, with no transposes; with probability dropout in training it is the composed ops', async () => {
    const x = random([2, 6, 8], 36);
    const make = (dropout: number) => {
      const layer = new MultiHeadAttention({ name: `mha_${dropout}`, numHeads: 2, keyDim: 4, dropout, seed: 3 });
      layer.apply(tf.input({ shape: [6, 8] }));
      return layer;
    };
    const kernelsOf = async (layer: MultiHeadAttention, training: boolean) =>
      (await tf.profile(() => tf.grad((v: tf.Tensor) => (layer.apply(v, { training }) as tf.Tensor).sum())(x))).kernelNames;
    const [plain, dropping] = [make(0), make(0.5)];
    for (const names of [await kernelsOf(plain, true), await kernelsOf(dropping, false)]) {
      expect(names).toEqual(expect.arrayContaining([ATTENTION_KERNEL, ATTENTION_GRAD_KERNEL]));
      expect(names).not.toContain('Transpose');
      expect(names).not.toContain('Softmax');
    }
    const trainingWithDropout = await kernelsOf(dropping, true);
    expect(trainingWithDropout).not.toContain(ATTENTION_KERNEL);
    expect(trainingWithDropout).toContain('Softmax');
    tf.dispose(x);
    [plain, dropping].forEach((layer) => layer.weights.forEach((w) => w.dispose()));
  });

  it("serialises as the stock LayerNormalization: stock TF.js loads the model and predicts the same", async () => {
    const input = tf.input({ shape: [5, 8] });
    const output = new LayerNormalization({ epsilon: 1e-4 }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: output });
    model.layers[1]!.setWeights([random([8], 18), random([8], 19)]);
    const saved: tf.io.ModelArtifacts[] = [];
    await model.save(tf.io.withSaveHandler(async (artifacts) => {
      saved.push(artifacts);
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const topology = JSON.stringify(saved[0]!.modelTopology);
    expect(topology).toContain('"class_name":"LayerNormalization"');
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved[0]!));
    expect(loaded.layers[1]!.constructor.name).toBe('LayerNormalization');
    expect(loaded.layers[1]).not.toBeInstanceOf(LayerNormalization);
    const x = random([3, 5, 8], 20);
    const [ours, theirs] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    expect(relativeError(ours.dataSync() as Float32Array, theirs.dataSync() as Float32Array)).toBeLessThanOrEqual(2e-6);
    tf.dispose([x, ours, theirs]);
    model.dispose();
    loaded.dispose();
  });

  const depthwiseCases: [string, number[], number[], [number, number], 'same' | 'valid'][] = [
    ['3×3, stride 1, same, multiplier 1', [2, 9, 11, 8], [3, 3, 8, 1], [1, 1], 'same'],
    ['3×3, stride 2, same, multiplier 1', [2, 9, 11, 8], [3, 3, 8, 1], [2, 2], 'same'],
    ['3×3, stride 1, valid, multiplier 2', [2, 9, 11, 5], [3, 3, 5, 2], [1, 1], 'valid'],
    ['3×3, stride 2, valid, multiplier 3, 13 channels', [2, 10, 9, 13], [3, 3, 13, 3], [2, 2], 'valid'],
    ['5×5, stride 2, same, odd sizes', [1, 13, 12, 6], [5, 5, 6, 1], [2, 2], 'same'],
    ['2×3, stride 1×2, same, multiplier 2', [3, 7, 8, 4], [2, 3, 4, 2], [1, 2], 'same'],
    ['MobileNet-sized 3×3, 32 channels', [4, 28, 28, 32], [3, 3, 32, 1], [1, 1], 'same'],
  ];
  for (const [name, xShape, fShape, strides, pad] of depthwiseCases) {
    it(`depthwise conv2d against the stock wasm kernel, its gradients against the cpu backend's: ${name}`, async () => {
      const compute = () => {
        const [x, filter] = [random(xShape, 21) as tf.Tensor4D, random(fShape, 22) as tf.Tensor4D];
        const out = tf.depthwiseConv2d(x, filter, strides, pad);
        const weights = random(out.shape, 23);
        return [out, ...tf.grads((a, b) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad).mul(weights).sum())([x, filter])];
      };
      const forward = () => tf.depthwiseConv2d(random(xShape, 21) as tf.Tensor4D, random(fShape, 22) as tf.Tensor4D, strides, pad);
      const [native, stockForward] = bothWays(forward, addon);
      const [withGrads, cpu] = await nativeAndCpu(compute);
      expect(relativeError(native[0]!, stockForward[0]!), 'forward against wasm').toBeLessThanOrEqual(1e-5);
      withGrads.forEach((values, i) => expect(relativeError(values, cpu[i]!), ['forward', 'dx', 'dfilter'][i]).toBeLessThanOrEqual(1e-5));
    });
  }

  it('depthwise conv2d with dilation 2 and explicit padding (forward), against the stock wasm kernel', () => {
    const [native, stock] = bothWays(() => {
      const [x, filter] = [random([2, 11, 10, 6], 24) as tf.Tensor4D, random([3, 3, 6, 2], 25) as tf.Tensor4D];
      return [tf.depthwiseConv2d(x, filter, 1, 'same', 'NHWC', 2), tf.depthwiseConv2d(x, filter, 1, [[0, 0], [1, 2], [2, 1], [0, 0]])];
    }, addon);
    native.forEach((values, i) => expect(relativeError(values, stock[i]!)).toBeLessThanOrEqual(1e-5));
  });

  it('a separable-convolution layer trains on the native backend (tfjs-backend-wasm has no depthwise gradient kernels) to the cpu backend\'s weights', async () => {
    const train = async () => {
      tf.util.assert(true, () => '');
      const model = tf.sequential({
        layers: [
          tf.layers.separableConv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu', depthwiseInitializer: tf.initializers.glorotUniform({ seed: 1 }), pointwiseInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
          tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, depthwiseInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
        ],
      });
      model.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError' });
      const [x, y] = [random([6, 8, 8, 3], 26), random([6, 2], 27)];
      await model.fit(x, y, { epochs: 3, batchSize: 6, shuffle: false, verbose: 0 });
      const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
      tf.dispose([x, y]);
      model.dispose();
      return weights;
    };
    const native = await train();
    await tf.setBackend('cpu');
    let cpu: Float32Array[];
    try {
      cpu = await train();
    } finally {
      await tf.setBackend('wasm');
    }
    native.forEach((values, i) => expect(relativeError(values, cpu[i]!), `weight ${i}`).toBeLessThanOrEqual(1e-5));
  });
});
