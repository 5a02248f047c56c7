import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { installNativeKernels, loadNativeAddon, uninstallNativeKernels, type NativeAddon } from '../../src/engine/backends/native-kernels.js';
import { namedWeights } from '../../src/engine/checkpoint-data.js';
import type { JobSpecInput } from '../../src/spec/job-spec.js';
import { collectRun, resolveSpec } from '../support/training-run.js';

// Built by npm install where Debian's libopenblas-dev is installed (.ci/run installs it). Outside
// CI a machine without it skips these; in CI its absence is a failure.
const haveAddon = existsSync(new URL('../../native/build/Release/trainyard_native.node', import.meta.url));

/** max |a − b| / max(1, max |b|): the error relative to the reference's scale. */
function relativeError(actual: Float32Array | Int32Array | Uint8Array, expected: Float32Array | Int32Array | Uint8Array): number {
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return worst / scale;
}

/** The same computation with the native kernels and with the stock wasm ones. */
function bothWays(compute: () => tf.Tensor | tf.Tensor[], addon: NativeAddon): [Float32Array[], Float32Array[]] {
  const run = () => {
    const out = tf.tidy(compute);
    const list = Array.isArray(out) ? out : [out];
    const values = list.map((t) => t.dataSync() as Float32Array);
    tf.dispose(list);
    return values;
  };
  const native = run();
  uninstallNativeKernels();
  const stock = run();
  installNativeKernels(addon, 1);
  return [native, stock];
}

const random = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

describe.skipIf(!haveAddon && !process.env.CI)('native OpenBLAS kernels against the stock wasm kernels', () => {
  let addon: NativeAddon;
  beforeAll(async () => {
    expect(haveAddon, 'native/build/Release/trainyard_native.node is missing: apt-get install libopenblas-dev && npm install').toBe(true);
    const loaded = loadNativeAddon();
    if (loaded instanceof Error) throw loaded;
    addon = loaded;
    const backend = await selectBackend('native');
    expect(backend.name).toBe('native');
    expect(backend.device).toMatch(/^CPU \(OpenBLAS BatchMatMul, .*MaxPoolGrad, Sum, the optimizer update with 1 thread, over WebAssembly/);
  });
  afterAll(async () => {
    await selectBackend('wasm');
  });

  const matMulCases: [string, number[], number[], boolean, boolean][] = [
    ['1×1', [1, 1], [1, 1], false, false],
    ['odd sizes', [7, 13], [13, 5], false, false],
    ['aᵀ', [13, 7], [13, 5], true, false],
    ['bᵀ', [7, 13], [5, 13], false, true],
    ['aᵀbᵀ', [13, 7], [5, 13], true, true],
    ['batched', [3, 4, 5], [3, 5, 2], false, false],
    ['a single matrix broadcast over b\'s batch', [1, 4, 5], [3, 5, 2], false, false],
    ['a dense layer\'s size', [128, 784], [784, 256], false, false],
  ];
  for (const [name, aShape, bShape, transposeA, transposeB] of matMulCases) {
    it(`matMul: ${name}`, () => {
      const [native, stock] = bothWays(() => tf.matMul(random(aShape, 1), random(bShape, 2), transposeA, transposeB), addon);
      expect(relativeError(native[0]!, stock[0]!)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('fused matMul with bias and relu, and its gradients', () => {
    const [native, stock] = bothWays(() => {
      const [a, b, bias] = [random([9, 6], 3), random([6, 4], 4), random([4], 5)];
      const f = (x: tf.Tensor2D, w: tf.Tensor2D, c: tf.Tensor1D) => tf.fused.matMul({ a: x, b: w, bias: c, activation: 'relu' }).sum();
      const grads = tf.grads((x, w, c) => f(x as tf.Tensor2D, w as tf.Tensor2D, c as tf.Tensor1D))([a, b, bias]);
      return [tf.fused.matMul({ a, b, bias, activation: 'relu' }), ...grads];
    }, addon);
    native.forEach((values, i) => expect(relativeError(values, stock[i]!)).toBeLessThanOrEqual(1e-5));
  });

  it('an activation it does not cover (elu) goes to the stock kernel', () => {
    const [native, stock] = bothWays(() => tf.fused.matMul({ a: random([5, 3], 6), b: random([3, 2], 7), activation: 'elu' }), addon);
    expect(Array.from(native[0]!)).toEqual(Array.from(stock[0]!));
  });

  const convCases: [string, number[], number[], [number, number], 'same' | 'valid', [number, number]][] = [
    ['batch 1, valid', [1, 7, 7, 1], [3, 3, 1, 2], [1, 1], 'valid', [1, 1]],
    ['odd sizes, same', [2, 9, 11, 3], [3, 3, 3, 5], [1, 1], 'same', [1, 1]],
    ['strides 2, same', [2, 9, 11, 3], [3, 3, 3, 4], [2, 2], 'same', [1, 1]],
    ['strides 2×1, valid', [2, 8, 9, 2], [2, 3, 2, 3], [2, 1], 'valid', [1, 1]],
    ['a 5×5 kernel', [1, 12, 12, 2], [5, 5, 2, 4], [1, 1], 'same', [1, 1]],
    ['MNIST-sized', [4, 28, 28, 1], [3, 3, 1, 8], [1, 1], 'valid', [1, 1]],
  ];
  for (const [name, xShape, fShape, strides, pad, dilations] of convCases) {
    it(`conv2d and both of its gradients: ${name}`, () => {
      const [native, stock] = bothWays(() => {
        const [x, filter] = [random(xShape, 8), random(fShape, 9)];
        const out = tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, strides, pad, 'NHWC', dilations);
        const weights = random(out.shape, 10);
        const grads = tf.grads((a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad, 'NHWC', dilations).mul(weights).sum())([x, filter]);
        return [out, ...grads];
      }, addon);
      native.forEach((values, i) => expect(relativeError(values, stock[i]!), ['forward', 'dx', 'dfilter'][i]).toBeLessThanOrEqual(1e-5));
    });
  }

  it('conv2d with dilation 2 and explicit padding', () => {
    const [native, stock] = bothWays(() => {
      const [x, filter] = [random([2, 10, 10, 2], 11), random([3, 3, 2, 3], 12)];
      return [
        tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same', 'NHWC', 2),
        tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, [[0, 0], [1, 2], [2, 1], [0, 0]], 'NHWC'),
      ];
    }, addon);
    native.forEach((values, i) => expect(relativeError(values, stock[i]!)).toBeLessThanOrEqual(1e-5));
  });

  const poolCases: [string, number[], [number, number], [number, number], 'same' | 'valid'][] = [
    ['2×2 stride 2', [2, 8, 8, 3], [2, 2], [2, 2], 'valid'],
    ['3×3 stride 2 same: windows overlap', [2, 9, 9, 4], [3, 3], [2, 2], 'same'],
    ['odd sizes, 2×3 stride 1', [1, 7, 6, 2], [2, 3], [1, 1], 'valid'],
  ];
  for (const [name, shape, filterSize, strides, pad] of poolCases) {
    // Against the cpu backend: tfjs-backend-wasm 4.22's MaxPoolGrad sends the gradient of a window
    // whose inputs are all negative to the window's first input, not to its maximum (found here).
    it(`maxPool's gradient: ${name}, negative windows and relu ties included, as the cpu backend computes it`, async () => {
      const compute = () => {
        const x = random(shape, 16);
        const weights = random(tf.maxPool(x as tf.Tensor4D, filterSize, strides, pad).shape, 17);
        const grad = (input: tf.Tensor) => tf.grad((i) => tf.maxPool(i as tf.Tensor4D, filterSize, strides, pad).mul(weights).sum())(input);
        return [grad(x), grad(tf.relu(x))];
      };
      const run = () => tf.tidy(compute).map((t) => t.dataSync() as Float32Array);
      const native = run();
      await selectBackend('cpu');
      const reference = run();
      await selectBackend('native');
      native.forEach((values, i) => expect(relativeError(values, reference[i]!)).toBeLessThanOrEqual(1e-5));
    });
  }

  it("maxPool's gradient with ties (a window of relu zeros): all of it to one of the window's maxima, the first column by column", () => {
    const x = tf.tensor4d([0, 0, 5, 1, 0, 0, 5, 2, 3, 3, 0, 0, 3, 3, 0, 0], [1, 4, 4, 1]);
    const dx = tf.grad((input) => tf.maxPool(input as tf.Tensor4D, 2, 2, 'valid').sum())(x);
    // Windows: [0 0; 0 0] → (0,0); [5 1; 5 2] → (0,2), the first 5 column by column; [3 3; 3 3] → (2,0); [0 0; 0 0] → (2,2).
    expect(Array.from(dx.dataSync())).toEqual([1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
    tf.dispose([x, dx]);
  });

  it('sums over leading axes (bias gradients), with and without keepDims; other axes go to the stock kernel', () => {
    const [native, stock] = bothWays(() => {
      const x = random([4, 5, 6, 3], 18);
      return [x.sum([0, 1, 2]), x.sum(0), x.sum([0, 1], true), x.sum([1, 2]), x.sum(-1), random([7, 13], 19).sum(0)];
    }, addon);
    native.forEach((values, i) => expect(relativeError(values, stock[i]!)).toBeLessThanOrEqual(1e-5));
  });

  it('fused conv2d with bias and relu', () => {
    const [native, stock] = bothWays(
      () => tf.fused.conv2d({ x: random([2, 8, 8, 3], 13) as tf.Tensor4D, filter: random([3, 3, 3, 4], 14) as tf.Tensor4D, strides: 1, pad: 'same', bias: random([4], 15), activation: 'relu' }),
      addon,
    );
    expect(relativeError(native[0]!, stock[0]!)).toBeLessThanOrEqual(1e-5);
  });
});

describe.skipIf(!haveAddon && !process.env.CI)('training on the native backend', () => {
  const specs: Record<string, JobSpecInput> = {
    MLP: {
      dataset: { name: 'mnist', limit: 256 },
      model: { layers: [{ type: 'dense', units: 64, activation: 'relu' }, { type: 'dense', units: 10 }] },
      optimizer: 'sgd',
      learningRate: 0.05,
      epochs: 2,
      batchSize: 32,
      seed: 21,
    },
    CNN: {
      dataset: { name: 'mnist', shape: 'image', limit: 128 },
      model: {
        layers: [
          { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
          { type: 'maxPool2d' },
          { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same' },
          { type: 'flatten' },
          { type: 'dense', units: 10 },
        ],
      },
      optimizer: 'sgd',
      learningRate: 0.05,
      epochs: 2,
      batchSize: 16,
      seed: 22,
    },
  };
  for (const [name, input] of Object.entries(specs)) {
    it(`${name}: forward, backward and update end with the wasm backend's weights`, async () => {
      const spec = resolveSpec(input);
      const native = await collectRun(spec, await selectBackend('native'));
      const stock = await collectRun(spec, await selectBackend('wasm'));
      expect(native.error).toBeUndefined();
      const [a, b] = [namedWeights(native.checkpoints.at(-1)!), namedWeights(stock.checkpoints.at(-1)!)];
      for (const weight of Object.keys(b)) expect(relativeError(a[weight]!.dataSync(), b[weight]!.dataSync()), weight).toBeLessThan(1e-4);
    });
  }
});

describe('without the addon', () => {
  it('native is refused with the reason, and auto falls back to wasm saying why', async () => {
    process.env.TRAINYARD_NATIVE_ADDON = '/nonexistent/trainyard_native.node';
    try {
      await expect(selectBackend('native')).rejects.toThrow(/native: the native kernels are unavailable: it was not built \(npm install builds it where libopenblas-dev is installed\)/);
      const fallback = await selectBackend('auto');
      expect(fallback.name).toBe('wasm');
      expect(fallback.skipped.join('\n')).toContain('native: the native kernels are unavailable');
    } finally {
      delete process.env.TRAINYARD_NATIVE_ADDON;
    }
  });
});
