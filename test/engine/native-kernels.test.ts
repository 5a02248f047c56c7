import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { installNativeKernels, loadNativeAddon, uninstallNativeKernels, type NativeAddon } from '../../src/engine/backends/native-kernels.js';
import { namedWeights } from '../../src/engine/checkpoint-data.js';
import { GRU_SEQUENCE_KERNEL } from '../../src/engine/backends/native-gru.js';
import { fusedGruSequence, fusedGruSequenceAvailable } from '../../src/engine/layers/gru-sequence.js';
import { LSTM_CELL_KERNEL, LSTM_SEQUENCE_KERNEL } from '../../src/engine/backends/native-lstm-cell.js';
import { fusedLstmCell, fusedLstmCellAvailable, fusedLstmSequence, fusedLstmSequenceAvailable } from '../../src/engine/layers/lstm-cell.js';
import { Conv2D } from '../../src/engine/layers/conv2d.js';
import { Dense, fusedDenseAvailable } from '../../src/engine/layers/dense.js';
import { layerNorm } from '../../src/engine/layers/layer-normalization.js';
import { RecurrentLayer } from '../../src/engine/layers/recurrent.js';
import type { JobSpecInput } from '../../src/spec/job-spec.js';
import { collectRun, resolveSpec } from '../support/training-run.js';

// Built by npm install where Debian's libopenblas-dev is installed (.ci/run installs it). Outside
// CI a machine without it skips these; in CI its absence is a failure.
const haveAddon = existsSync(new URL('../../native/build/Release/trainyard_native.node', import.meta.url));

/**
 * max |a − b| / max(1, max |b|): the error relative to the reference's scale. Equal values
 * (infinities included) and NaN against NaN count as no error; anything else against an infinity
 * or a NaN, as an infinite one.
 */
function relativeError(actual: Float32Array | Int32Array | Uint8Array, expected: Float32Array | Int32Array | Uint8Array): number {
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

/** The values of what compute returns, its tensors disposed. */
function valuesOf(compute: () => tf.Tensor | tf.Tensor[]): Float32Array[] {
  const out = tf.tidy(compute);
  const list = Array.isArray(out) ? out : [out];
  const values = list.map((t) => t.dataSync() as Float32Array);
  tf.dispose(list);
  return values;
}

/** The first index where two arrays' bits differ (−1: none): a diff of 10⁵ values would take vitest long to print. */
function firstDifference(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) return 0;
  const [a, b] = [new Uint32Array(actual.buffer, actual.byteOffset, actual.length), new Uint32Array(expected.buffer, expected.byteOffset, expected.length)];
  return a.findIndex((bits, i) => bits !== b[i]);
}

/** The same computation with the native kernels and with the stock wasm ones. */
function bothWays(compute: () => tf.Tensor | tf.Tensor[], addon: NativeAddon): [Float32Array[], Float32Array[]] {
  const run = () => valuesOf(compute);
  const native = run();
  uninstallNativeKernels();
  const stock = run();
  installNativeKernels(addon, 1);
  return [native, stock];
}

const random = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

/**
 * The spec trained on native with the engine's fused layer, then with TF.js's own (the parent
 * class's call): each run's final weights.
 */
async function finalWeightsFusedAndStock(layer: { prototype: tf.layers.Layer }, spec: ReturnType<typeof resolveSpec>): Promise<{ fused: Float32Array; stock: Float32Array }> {
  const backend = await selectBackend('native');
  const fusedRun = await collectRun(spec, backend);
  const fusedCall = layer.prototype.call;
  layer.prototype.call = Object.getPrototypeOf(layer.prototype).call;
  let stockRun: typeof fusedRun;
  try {
    stockRun = await collectRun(spec, backend);
  } finally {
    layer.prototype.call = fusedCall;
  }
  expect(fusedRun.error).toBeUndefined();
  expect(stockRun.error).toBeUndefined();
  const weights = (run: typeof fusedRun) => new Float32Array(run.checkpoints.at(-1)!.model.weightData);
  return { fused: weights(fusedRun), stock: weights(stockRun) };
}

describe.skipIf(!haveAddon && !process.env.CI)('native OpenBLAS kernels against the stock wasm kernels', () => {
  let addon: NativeAddon;
  beforeAll(async () => {
    expect(haveAddon, 'native/build/Release/trainyard_native.node is missing: apt-get install libopenblas-dev && npm install').toBe(true);
    const loaded = loadNativeAddon();
    if (loaded instanceof Error) throw loaded;
    addon = loaded;
    const backend = await selectBackend('native');
    expect(backend.name).toBe('native');
    expect(backend.device).toMatch(/^CPU \(\d+ native kernels on 1 thread with OpenBLAS, over WebAssembly/);
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
    ['an even 2×4 kernel, same: padded on one side only', [2, 7, 8, 3], [2, 4, 3, 5], [1, 1], 'same', [1, 1]],
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

  it('conv2d and both gradients split over 2 threads by image: forward and dx are 1 thread\'s bits, dw adds the threads\' sums (the same bits every run)', () => {
    const run = (threads: number) => {
      installNativeKernels(addon, threads);
      try {
        return valuesOf(() => {
          const [x, filter] = [random([5, 9, 9, 6], 21), random([3, 3, 6, 7], 22)];
          const weights = random([5, 5, 5, 7], 23);
          const conv = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same');
          return [conv(x, filter), ...tf.grads((a, b) => conv(a, b).mul(weights).sum())([x, filter])];
        });
      } finally {
        installNativeKernels(addon, 1);
      }
    };
    const [one, two, twoAgain] = [run(1), run(2), run(2)];
    expect(Array.from(two[0]!), 'forward').toEqual(Array.from(one[0]!));
    expect(Array.from(two[1]!), 'dx').toEqual(Array.from(one[1]!));
    expect(relativeError(two[2]!, one[2]!), 'dfilter').toBeLessThanOrEqual(1e-6);
    expect(Array.from(twoAgain[2]!), 'dfilter, run again').toEqual(Array.from(two[2]!));
  });

  it('elementwise ops, softmax, layer norm and matrix products split over 2 threads give the bits of 1 thread', () => {
    // Sizes above the split thresholds (2¹⁶ values a part; products of 2¹⁹ multiply-adds), and odd ones.
    const compute = () => {
      const x = random([301, 517], 24);
      const row = random([517], 25);
      const [a, b] = [random([2050, 72], 26), random([72, 70], 27)];
      const [batchA, batchB] = [random([6, 130, 40], 28), random([6, 40, 129], 29)];
      const [wide, tall] = [random([70, 700], 30), random([700, 1300], 31)];
      const dense = tf.layers.dense({ units: 300, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 32 }) });
      return [
        tf.relu(x),
        tf.sigmoid(x),
        tf.exp(x),
        tf.add(x, row),
        tf.mul(x, x),
        tf.sub(row, x),
        tf.grad((v: tf.Tensor) => tf.relu(v).mul(x).sum())(x),
        tf.softmax(x),
        layerNorm(x, row, tf.neg(row), 1e-5),
        tf.matMul(a, b),
        tf.matMul(b, a, true, true),
        tf.matMul(batchA, batchB),
        tf.matMul(wide, tall),
        dense.apply(tf.transpose(x)) as tf.Tensor,
      ];
    };
    const [one, two] = [1, 2].map((threads) => {
      installNativeKernels(addon, threads);
      try {
        return valuesOf(compute);
      } finally {
        installNativeKernels(addon, 1);
      }
    }) as [Float32Array[], Float32Array[]];
    one.forEach((values, i) => expect(firstDifference(two[i]!, values), `output ${i}`).toBe(-1));
  });

  it("the GRU and LSTM sequences (recurrent products split by rows) and every optimizer's update split over 2 threads give the bits of 1 thread", () => {
    const [batch, steps, units] = [64, 3, 128];
    const sequences = () =>
      [fusedGruSequence, fusedLstmSequence].flatMap((run, i) => {
        const gates = i === 0 ? 3 : 4;
        const [xW, bias, kernel] = [random([batch, steps, gates * units], 101 + i), random([gates * units], 103 + i), tf.mul(random([units, gates * units], 105 + i), 0.2)];
        const weights = random([batch, steps, units], 107 + i);
        const loss = (p: tf.Tensor, b: tf.Tensor, k: tf.Tensor) => run(p, b, k, true).mul(weights).sum() as tf.Scalar;
        return [run(xW, bias, kernel, true), ...tf.grads(loss)([xW, bias, kernel])];
      });
    // Past two parts of the updates' grain (2¹⁴ values), and odd.
    const n = 70_001;
    const params = { lr: 0.01, momentum: 0.9, epsilon: 1e-7, rho: 0.9, beta1: 0.9, beta2: 0.999, correction1: 0.19, correction2: 0.002, weightDecay: 0.01 };
    const slots: Record<string, number> = { sgd: 0, momentum: 1, nesterov: 1, adagrad: 1, rmsprop: 2, adam: 2 };
    const updates = () =>
      Object.entries(slots).map(([rule, count], r) => {
        const inputs = Array.from({ length: count + 2 }, (_, i) => Float32Array.from(random([n], 110 + 10 * r + i).dataSync(), (v) => (i >= 2 ? Math.abs(v) : v)));
        const outputs = Array.from({ length: count + 1 }, () => new Float32Array(n));
        addon.optimizerStep(rule, inputs, outputs, params);
        return outputs;
      });
    const [one, two] = [1, 2].map((threads) => {
      installNativeKernels(addon, threads);
      try {
        return [...valuesOf(sequences), ...updates().flat()];
      } finally {
        installNativeKernels(addon, 1);
      }
    }) as [Float32Array[], Float32Array[]];
    // 4 outputs of each sequence; θ and the slots of each rule.
    expect(one).toHaveLength(8 + 13);
    one.forEach((values, i) => expect(firstDifference(two[i]!, values), `output ${i}`).toBe(-1));
  });

  it("a weight gradient's product (few rows and columns, a long inner dimension) splits that dimension over 2 threads: within 1e-6 of 1 thread, the same bits every run", () => {
    const run = (threads: number) => {
      installNativeKernels(addon, threads);
      try {
        return valuesOf(() => [tf.matMul(random([900, 40], 41), random([900, 50], 42), true, false), tf.matMul(random([30, 1000], 43), random([60, 1000], 44), false, true)]);
      } finally {
        installNativeKernels(addon, 1);
      }
    };
    const [one, two, twoAgain] = [run(1), run(2), run(2)];
    one.forEach((values, i) => {
      expect(relativeError(two[i]!, values), `product ${i}`).toBeLessThanOrEqual(1e-6);
      expect(firstDifference(twoAgain[i]!, two[i]!), `product ${i}, run again`).toBe(-1);
    });
    expect(firstDifference(two[0]!, one[0]!), 'the split changed the order of the sums').not.toBe(-1);
  });

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
    ['2×2 stride 2 on odd sizes: the last row and column are in no window', [2, 7, 9, 3], [2, 2], [2, 2], 'valid'],
    ['2×2 stride 2 same on odd sizes: windows cut by the padding', [2, 7, 9, 3], [2, 2], [2, 2], 'same'],
    ['3×2 stride 3×2, channels not a multiple of the vector width', [3, 9, 8, 13], [3, 2], [3, 2], 'valid'],
    ['a CNN layer\'s size', [2, 24, 24, 64], [2, 2], [2, 2], 'valid'],
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
      // Windows that do not overlap give each input one gradient or none: the same values exactly.
      const tiles = filterSize[0] === strides[0] && filterSize[1] === strides[1];
      native.forEach((values, i) => (tiles ? expect(Array.from(values)).toEqual(Array.from(reference[i]!)) : expect(relativeError(values, reference[i]!)).toBeLessThanOrEqual(1e-5)));
    });
  }

  it("maxPool's gradient with ties (a window of relu zeros): all of it to one of the window's maxima, the first column by column", () => {
    const x = tf.tensor4d([0, 0, 5, 1, 0, 0, 5, 2, 3, 3, 0, 0, 3, 3, 0, 0], [1, 4, 4, 1]);
    const dx = tf.grad((input) => tf.maxPool(input as tf.Tensor4D, 2, 2, 'valid').sum())(x);
    // Windows: [0 0; 0 0] → (0,0); [5 1; 5 2] → (0,2), the first 5 column by column; [3 3; 3 3] → (2,0); [0 0; 0 0] → (2,2).
    expect(Array.from(dx.dataSync())).toEqual([1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
    tf.dispose([x, dx]);
  });

  it('sums over leading axes (bias gradients) and last axes, with and without keepDims; middle axes go to the stock kernel', () => {
    const [native, stock] = bothWays(() => {
      const x = random([4, 5, 6, 3], 18);
      return [x.sum([0, 1, 2]), x.sum(0), x.sum([0, 1], true), x.sum([1, 2]), x.sum(-1), random([7, 13], 19).sum(0)];
    }, addon);
    native.forEach((values, i) => expect(relativeError(values, stock[i]!)).toBeLessThanOrEqual(1e-5));
  });

  const unaryOps: [string, (x: tf.Tensor) => tf.Tensor][] = [
    ['relu', tf.relu],
    ['relu6', tf.relu6],
    ['sigmoid', tf.sigmoid],
    ['tanh', tf.tanh],
    ['exp', tf.exp],
    ['log', (x) => tf.log(tf.abs(x))],
    ['neg', tf.neg],
    ['square', tf.square],
    ['sqrt', (x) => tf.sqrt(tf.abs(x))],
    ['abs', tf.abs],
    ['rsqrt', (x) => tf.rsqrt(tf.abs(x))],
    ['step', (x) => tf.step(x, 0.25)],
  ];
  for (const [name, op] of unaryOps) {
    it(`${name}: one value, an odd size, large arguments and NaN, and its gradient`, () => {
      const [native, stock] = bothWays(() => {
        const edges = tf.tensor1d([0, -0, 1e-7, -1e-7, 0.5, -0.7, 12, -12, 60, -60, 100, -100]);
        const x = random([37, 29], 30);
        const weights = random([37, 29], 31);
        return [op(tf.scalar(0.3)), op(random([1001], 32)), op(edges), op(x), tf.grad((v) => op(v).mul(weights).sum())(x)];
      }, addon);
      native.forEach((values, i) => expect(relativeError(values, stock[i]!), `output ${i}`).toBeLessThanOrEqual(1e-5));
      const nan = tf.tidy(() => op(tf.tensor1d([Number.NaN])).dataSync()[0]);
      if (name !== 'abs') expect(nan, 'NaN in, NaN out').toBeNaN();
    });
  }

  it("relu's gradient as one kernel: the bits of TF.js's dy · step(x), signed zeros, NaN and infinities included", () => {
    const [native, stock] = bothWays(() => {
      const x = tf.tensor1d([-1, 0, -0, 1e-30, -1e-30, 2, Number.NaN, 3, -Infinity, Infinity, 5, -5]);
      const dy = tf.tensor1d([1, -2, 3, -0, Infinity, 1, 1, Number.NaN, 1, -1, -0, -7]);
      const big = random([4, 13, 13, 32], 86);
      const weights = random([4, 13, 13, 32], 87);
      return [tf.grad((v) => tf.relu(v).mul(dy).sum())(x), tf.grad((v) => tf.relu(v).mul(weights).sum())(big)];
    }, addon);
    native.forEach((values, i) => expect(Array.from(values).every((v, j) => Object.is(v, stock[i]![j])), `output ${i}`).toBe(true));
  });

  const binaryOps: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
    ['add', tf.add],
    ['sub', tf.sub],
    ['mul', tf.mul],
    ['div', tf.div],
    ['maximum', tf.maximum],
    ['minimum', tf.minimum],
    ['squaredDifference', tf.squaredDifference],
  ];
  const layouts: [string, number[], number[]][] = [
    ['equal shapes', [7, 5], [7, 5]],
    ['a scalar on the right', [7, 5], []],
    ['a scalar on the left', [], [7, 5]],
    ['a bias row on the right', [4, 3, 5], [5]],
    ['a row on the left', [1, 5], [6, 5]],
    ['a trailing block', [2, 3, 5], [3, 5]],
    ['an outer product (stock kernel)', [6, 1], [1, 5]],
    ['one element each', [1], [1]],
  ];
  for (const [name, op] of binaryOps) {
    it(`${name} over equal shapes, scalars and broadcast rows, and its gradients`, () => {
      const [native, stock] = bothWays(
        () =>
          layouts.flatMap(([, aShape, bShape], i) => {
            const [a, b] = [random(aShape, 40 + i), tf.add(random(bShape, 50 + i), name === 'div' ? 3 : 0)];
            const out = op(a, b);
            const weights = random(out.shape, 60 + i);
            // TF.js's own gradients of maximum, minimum and squaredDifference do not reduce over broadcast axes.
            const broadcast = !tf.util.arraysEqual(aShape, bShape);
            const grads = broadcast && !['add', 'sub', 'mul', 'div'].includes(name) ? [out, out] : tf.grads((x, y) => op(x!, y!).mul(weights).sum())([a, b]);
            return [out, ...grads];
          }),
        addon,
      );
      native.forEach((values, i) => expect(relativeError(values, stock[i]!), `${layouts[Math.floor(i / 3)]![0]}, output ${i % 3}`).toBeLessThanOrEqual(1e-5));
    });
  }

  it('max, min and mean over the last or leading axes, all axes, with keepDims; middle axes go to the stock kernel', () => {
    const [native, stock] = bothWays(() => {
      const x = random([4, 5, 6], 70);
      return [tf.max, tf.min, tf.mean].flatMap((reduce) => [reduce(x, -1), reduce(x, [1, 2], true), reduce(x, 0), reduce(x, [0, 1]), reduce(x), reduce(x, 1), reduce(random([1], 71))]);
    }, addon);
    native.forEach((values, i) => expect(relativeError(values, stock[i]!), `output ${i}`).toBeLessThanOrEqual(1e-5));
  });

  it('softmax over the last axis, and softmax cross-entropy with its gradient', () => {
    const [native, stock] = bothWays(() => {
      const logits = tf.mul(random([9, 10], 72), 5);
      const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7, 8], 'int32'), 10);
      return [tf.softmax(logits), tf.softmax(random([2, 3, 1], 73)), tf.losses.softmaxCrossEntropy(labels, logits), tf.grad((l) => tf.losses.softmaxCrossEntropy(labels, l))(logits)];
    }, addon);
    native.forEach((values, i) => expect(relativeError(values, stock[i]!), `output ${i}`).toBeLessThanOrEqual(1e-5));
  });

  it('identity and same-type casts share the buffer, which stays valid when the original is disposed', () => {
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const [copy, cast] = [tf.clone(x), tf.cast(x, 'float32')];
    const asInt = tf.cast(x, 'int32');
    x.dispose();
    expect(Array.from(copy.dataSync())).toEqual([1, 2, 3, 4]);
    expect(Array.from(cast.dataSync())).toEqual([1, 2, 3, 4]);
    expect(asInt.dtype).toBe('int32');
    tf.dispose([copy, cast, asInt]);
  });

  it('unstack and stack along every axis, and their gradients', () => {
    const [native, stock] = bothWays(() => {
      const x = random([3, 4, 5], 74);
      return [0, 1, 2].flatMap((axis) => {
        const parts = tf.unstack(x, axis);
        const weights = random(parts[0]!.shape, 75 + axis);
        return [...parts, tf.stack(parts, axis), tf.grad((v) => tf.unstack(v, axis)[1]!.mul(weights).sum())(x)];
      });
    }, addon);
    native.forEach((values, i) => expect(relativeError(values, stock[i]!), `output ${i}`).toBeLessThanOrEqual(1e-5));
  });

  const poolForwardCases: [string, number[], [number, number], [number, number], 'same' | 'valid'][] = [
    ['2×2 stride 2', [2, 8, 8, 3], [2, 2], [2, 2], 'valid'],
    ['3×3 stride 2 same (padding left out of the mean)', [2, 9, 9, 4], [3, 3], [2, 2], 'same'],
    ['odd sizes, 2×3 stride 1', [1, 7, 6, 2], [2, 3], [1, 1], 'valid'],
  ];
  for (const [name, shape, filterSize, strides, pad] of poolForwardCases) {
    it(`maxPool and avgPool, and avgPool's gradient: ${name}`, () => {
      const [native, stock] = bothWays(() => {
        const x = random(shape, 76);
        const avg = tf.avgPool(x as tf.Tensor4D, filterSize, strides, pad);
        const weights = random(avg.shape, 77);
        return [tf.maxPool(x as tf.Tensor4D, filterSize, strides, pad), avg, tf.grad((v) => tf.avgPool(v as tf.Tensor4D, filterSize, strides, pad).mul(weights).sum())(x)];
      }, addon);
      native.forEach((values, i) => expect(relativeError(values, stock[i]!), ['maxPool', 'avgPool', "avgPool's gradient"][i]).toBeLessThanOrEqual(1e-5));
    });
  }

  it('gather: rows of float32, int32 and bool tensors (the batch gather), other axes, 2-D indices, and its gradient: equal to the stock kernel', () => {
    const [native, stock] = bothWays(() => {
      const x = random([50, 7, 3], 90);
      const rows = tf.tensor1d([49, 0, 3, 3, 17, 49, 8], 'int32');
      const labels = tf.tensor1d(Array.from({ length: 50 }, (_, i) => (i * 7) % 10), 'int32');
      const weights = random([7, 7, 3], 91);
      return [
        tf.gather(x, rows),
        tf.cast(tf.gather(labels, rows), 'float32'),
        tf.cast(tf.gather(tf.greater(x, 0), rows), 'float32'),
        tf.gather(x, tf.tensor1d([6, 0, 2], 'int32'), 1),
        tf.gather(x, tf.tensor1d([2, 2, 1, 0], 'int32'), 2),
        tf.gather(x, tf.tensor2d([[1, 2], [40, 0]], [2, 2], 'int32')),
        tf.gather(x, tf.tensor1d([], 'int32')),
        tf.grad((v) => tf.gather(v, rows).mul(weights).sum())(x),
      ];
    }, addon);
    native.forEach((values, i) => expect(Array.from(values), `output ${i}`).toEqual(Array.from(stock[i]!)));
  });

  it('gather: an index out of range fails as with the stock kernel', () => {
    const x = tf.zeros([4, 2]);
    expect(() => tf.gather(x, tf.tensor1d([1, 4], 'int32'))).toThrow('GatherV2: the index value 4 is not in [0, 3]');
    expect(() => tf.gather(x, tf.tensor1d([-1], 'int32'))).toThrow('GatherV2: the index value -1 is not in [0, 3]');
    x.dispose();
  });

  it('the fused LSTM cell and its gradients match the cell composed of TF.js ops', () => {
    const [batch, units] = [3, 5];
    const composed = (pre: tf.Tensor, c: tf.Tensor) => {
      const [zi, zf, zg, zo] = tf.split(pre, 4, 1) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      const next = tf.add(tf.mul(tf.sigmoid(zf), c), tf.mul(tf.sigmoid(zi), tf.tanh(zg)));
      return { h: tf.mul(tf.sigmoid(zo), tf.tanh(next)), c: next };
    };
    const compute = (cell: typeof composed) => {
      const pre = tf.mul(random([batch, 4 * units], 80), 3);
      const c = random([batch, units], 81);
      const [wh, wc] = [random([batch, units], 82), random([batch, units], 83)];
      const out = cell(pre, c);
      // Two steps, so the gradient flows through c' and through h into the next step's pre.
      const loss = (p: tf.Tensor, c0: tf.Tensor) => {
        const first = cell(p, c0);
        const second = cell(tf.add(p, tf.tile(first.h, [1, 4])), first.c);
        return tf.add(second.h.mul(wh).sum(), second.c.mul(wc).sum()) as tf.Scalar;
      };
      return [out.h, out.c, ...tf.grads(loss)([pre, c])];
    };
    expect(fusedLstmCellAvailable()).toBe(true);
    const native = tf.tidy(() => compute(fusedLstmCell)).map((t) => t.dataSync() as Float32Array);
    const stock = tf.tidy(() => compute(composed)).map((t) => t.dataSync() as Float32Array);
    native.forEach((values, i) => expect(relativeError(values, stock[i]!), ['h', 'c', 'dpre', 'dc'][i]).toBeLessThanOrEqual(1e-5));
  });

  const sequenceCases: [string, { returnSequences: boolean; dropout: number; training: boolean }][] = [
    ['the last state', { returnSequences: false, dropout: 0, training: true }],
    ['every state', { returnSequences: true, dropout: 0, training: true }],
    ['every state, with per-step input dropout (x W step by step)', { returnSequences: true, dropout: 0.3, training: true }],
  ];
  // The kernels the layer uses on native; without them it composes each step of TF.js ops.
  const sequenceKernels = { gru: [GRU_SEQUENCE_KERNEL], lstm: [LSTM_SEQUENCE_KERNEL, LSTM_CELL_KERNEL] } as const;
  for (const cell of ['gru', 'lstm'] as const) {
    for (const [name, { returnSequences, dropout, training }] of sequenceCases) {
      it(`the ${cell.toUpperCase()} over a sequence as one kernel, and its gradients, match the layer composed of TF.js ops: ${name}`, () => {
        const [batch, steps, features, units] = [3, 6, 4, 5];
        const layer = new RecurrentLayer({
          name: `${cell}_fused_${name.length}`,
          cell,
          units,
          activation: 'tanh',
          returnSequences,
          dropout,
          recurrentDropout: 0,
          dropoutMode: 'standard',
          recurrentBatchNorm: null,
          layerNorm: false,
          kernelInitializer: tf.initializers.glorotUniform({ seed: 31 }),
          recurrentInitializer: tf.initializers.orthogonal({ seed: 32 }),
          biasInitializer: tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: 33 }),
          seed: 34,
          clock: { step: 2 },
        });
        const x = tf.mul(random([batch, steps, features], 84), 2);
        (layer.apply(x) as tf.Tensor).dispose();
        const weights = random(returnSequences ? [batch, steps, units] : [batch, units], 85);
        const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
        const compute = () =>
          tf.tidy(() => {
            const out = layer.apply(x, { training }) as tf.Tensor;
            const loss = () => (layer.apply(x, { training }) as tf.Tensor).mul(weights).sum() as tf.Scalar;
            const { grads } = tf.variableGrads(loss, variables);
            const dx = tf.grad((v) => (layer.apply(v, { training }) as tf.Tensor).mul(weights).sum())(x);
            return [out, dx, ...variables.map((v) => grads[v.name]!)];
          }).map((t) => t.dataSync() as Float32Array);
        expect(cell === 'gru' ? fusedGruSequenceAvailable() : fusedLstmSequenceAvailable()).toBe(true);
        const fused = compute();
        const configs = sequenceKernels[cell].map((kernelName) => tf.getKernel(kernelName, 'wasm')!);
        configs.forEach((config) => tf.unregisterKernel(config.kernelName, 'wasm'));
        let composed: Float32Array[];
        try {
          expect(cell === 'gru' ? fusedGruSequenceAvailable() : fusedLstmSequenceAvailable()).toBe(false);
          composed = compute();
        } finally {
          configs.forEach((config) => tf.registerKernel(config));
        }
        fused.forEach((values, i) => expect(relativeError(values, composed[i]!), ['output', 'dx', 'dkernel', 'drecurrent', 'dbias'][i]).toBeLessThanOrEqual(1e-5));
        tf.dispose([x, weights]);
        layer.dispose();
      });
    }
  }

  for (const cell of ['gru', 'lstm'] as const) {
    it(`the ${cell.toUpperCase()} sequence kernel adds the bias itself with the bits of an Add before it, and its bias gradient is the Sum kernel's`, () => {
      const [batch, steps, units, gates] = [4, 7, 6, cell === 'gru' ? 3 : 4];
      const run = cell === 'gru' ? fusedGruSequence : fusedLstmSequence;
      const compute = (folded: boolean) =>
        tf.tidy(() => {
          const [xW, bias, kernel] = [random([batch, steps, gates * units], 92), random([gates * units], 93), tf.mul(random([units, gates * units], 94), 0.5)];
          const [wHs, wLast] = [random([batch, steps, units], 95), random([batch, units], 96)];
          // Before: x W + b as its own Add, the kernel given no bias of its own (zeros); now: the kernel adds it.
          const f = (p: tf.Tensor, b: tf.Tensor, k: tf.Tensor, sequences: boolean) => (folded ? run(p, b, k, sequences) : run(tf.add(p, b), tf.zerosLike(b), k, sequences));
          return [true, false].flatMap((sequences) => {
            const loss = (p: tf.Tensor, b: tf.Tensor, k: tf.Tensor) => f(p, b, k, sequences).mul(sequences ? wHs : wLast).sum() as tf.Scalar;
            return [f(xW, bias, kernel, sequences), ...tf.grads(loss)([xW, bias, kernel])];
          });
        }).map((t) => t.dataSync() as Float32Array);
      const [folded, added] = [compute(true), compute(false)];
      const names = ['hs', 'dxW', 'dbias', 'dkernel', 'last', 'dxW (last)', 'dbias (last)', 'dkernel (last)'];
      folded.forEach((values, i) => expect(Array.from(values).every((v, j) => Object.is(v, added[i]![j])), names[i]).toBe(true));
    });
  }

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
    // The fused GRU on native; the cell composed of ops on wasm.
    GRU: {
      dataset: { name: 'adding', rows: 128, length: 12, seed: 4 },
      model: { layers: [{ type: 'gru', units: 16, returnSequences: true }, { type: 'gru', units: 8 }, { type: 'dense', units: 1 }] },
      optimizer: 'sgd',
      learningRate: 0.1,
      epochs: 2,
      batchSize: 32,
      seed: 24,
    },
    // One kernel over the sequence on native; the cell composed of ops on wasm.
    LSTM: {
      dataset: { name: 'adding', rows: 128, length: 12, seed: 3 },
      model: { layers: [{ type: 'lstm', units: 16 }, { type: 'dense', units: 1 }] },
      optimizer: 'sgd',
      learningRate: 0.1,
      epochs: 2,
      batchSize: 32,
      seed: 23,
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

describe.skipIf(!haveAddon && !process.env.CI)('the conv2d layer with its bias and relu fused on the native backend', () => {
  beforeAll(async () => {
    await selectBackend('native');
  });
  afterAll(async () => {
    await selectBackend('wasm');
  });

  it("trains to the same weights, to the bit, as TF.js's layer (Conv2D, Add, Relu), and runs FusedConv2D instead", async () => {
    const spec = resolveSpec({
      dataset: { name: 'mnist', shape: 'image', limit: 96 },
      model: {
        layers: [
          { type: 'conv2d', filters: 6, kernelSize: 3, activation: 'relu' },
          { type: 'conv2d', filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' },
          { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same' },
          { type: 'maxPool2d' },
          { type: 'flatten' },
          { type: 'dense', units: 10 },
        ],
      },
      optimizer: 'adam',
      learningRate: 0.01,
      epochs: 2,
      batchSize: 16,
      seed: 25,
    });
    const kernels = new Set<string>();
    const profiled = await tf.profile(() => {
      const layer = new Conv2D({ filters: 2, kernelSize: 3, activation: 'relu', inputShape: [6, 6, 1] });
      const x = random([2, 6, 6, 1], 88);
      (layer.apply(x) as tf.Tensor).dispose();
      tf.grads((v) => (layer.apply(v) as tf.Tensor).sum())([x]).forEach((g) => g.dispose());
      x.dispose();
      layer.dispose();
    });
    profiled.kernels.forEach((k) => kernels.add(k.name));
    expect(kernels.has('FusedConv2D') && !kernels.has('Conv2D') && !kernels.has('Relu')).toBe(true);

    const { fused, stock } = await finalWeightsFusedAndStock(Conv2D, spec);
    expect(fused).toEqual(stock);
    // Serialises as the stock layer.
    expect(new Conv2D({ filters: 1, kernelSize: 1 }).getClassName()).toBe('Conv2D');
  });
});

describe.skipIf(!haveAddon && !process.env.CI)('the dense layer trained fused on the native backend', () => {
  beforeAll(async () => {
    await selectBackend('native');
  });
  afterAll(async () => {
    await selectBackend('wasm');
  });

  /** Runs `compute` with TF.js's own dense layer (matMul, Add and the activation, each differentiated on its own). */
  function unfused<T>(compute: () => T): T {
    const fusedCall = Dense.prototype.call;
    Dense.prototype.call = Object.getPrototypeOf(Dense.prototype).call;
    try {
      return compute();
    } finally {
      Dense.prototype.call = fusedCall;
    }
  }

  // tanh has no fused kernel: the stock layer, both ways.
  for (const activation of ['linear', 'relu', 'sigmoid', 'tanh'] as const) {
    it(`${activation}: the forward pass and the gradients of x, the kernel and the bias are the unfused layer's, to the bit, in fewer kernel calls`, async () => {
      const layer = new Dense({ units: 7, activation, inputShape: [13], kernelInitializer: tf.initializers.glorotUniform({ seed: 41 }), biasInitializer: tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: 42 }) });
      // Exact zeros and both signs before the activation: relu's ties at 0 included.
      const x = tf.tidy(() => tf.mul(tf.round(tf.mul(random([9, 13], 43), 2)), 0.5));
      (layer.apply(x) as tf.Tensor).dispose();
      const weights = random([9, 7], 44);
      const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
      const compute = () =>
        tf
          .tidy(() => {
            const loss = (v: tf.Tensor) => (layer.apply(v, { training: true }) as tf.Tensor).mul(weights).sum() as tf.Scalar;
            const { grads } = tf.variableGrads(() => loss(x), variables);
            return [layer.apply(x) as tf.Tensor, tf.grad(loss)(x), ...variables.map((v) => grads[v.name]!)];
          })
          .map((t) => t.dataSync() as Float32Array);
      expect(fusedDenseAvailable(activation)).toBe(activation !== 'tanh');
      const profiled = await tf.profile(() => compute());
      const kernels = new Set(profiled.kernels.map((k) => k.name));
      if (activation === 'tanh') expect(kernels.has('TrainyardDenseGrad')).toBe(false);
      else expect([...kernels].filter((k) => ['BatchMatMul', 'Add', 'Relu', 'Sigmoid', 'Step', 'TrainyardReluGrad'].includes(k)), [...kernels].join(' ')).toEqual([]);
      // tf.profile hands back the same object each time: count before profiling again.
      const fusedCalls = profiled.kernels.length;
      const stockCalls = (await tf.profile(() => unfused(compute))).kernels.length;
      if (activation === 'tanh') expect(fusedCalls).toBe(stockCalls);
      else expect(fusedCalls).toBeLessThan(stockCalls);
      const [fused, stock] = [compute(), unfused(compute)];
      fused.forEach((values, i) => expect(Array.from(values).every((v, j) => Object.is(v, stock[i]![j])), ['output', 'dx', 'dkernel', 'dbias'][i]).toBe(true));
      tf.dispose([x, weights]);
      layer.dispose();
    });
  }

  it('without a bias, and the unfused gradient where the native kernel is absent: the same values', () => {
    const layer = new Dense({ units: 5, activation: 'relu', useBias: false, inputShape: [6], kernelInitializer: tf.initializers.glorotUniform({ seed: 45 }) });
    const x = random([4, 6], 46);
    (layer.apply(x) as tf.Tensor).dispose();
    const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const compute = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => (layer.apply(x, { training: true }) as tf.Tensor).square().sum() as tf.Scalar, variables);
        return [value, ...variables.map((v) => grads[v.name]!)];
      }).map((t) => t.dataSync() as Float32Array);
    const fused = compute();
    expect(variables).toHaveLength(1);
    const stock = unfused(compute);
    fused.forEach((values, i) => expect(Array.from(values)).toEqual(Array.from(stock[i]!)));
    // _FusedMatMul's registered gradient computed from TF.js ops (what a backend without the kernel runs).
    const config = tf.getKernel('TrainyardDenseGrad', 'wasm')!;
    const opsGradient = tf.tidy(() => {
      const w = variables[0]!;
      const bias = random([5], 47);
      tf.unregisterKernel('TrainyardDenseGrad', 'wasm');
      try {
        const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => (tf.engine().runKernel('_FusedMatMul', { a, b, bias: c }, { transposeA: false, transposeB: false, activation: 'sigmoid' } as unknown as tf.NamedAttrMap) as tf.Tensor).square().sum() as tf.Scalar;
        return tf.grads(f)([x, w, bias]).map((t) => t.dataSync() as Float32Array);
      } finally {
        tf.registerKernel(config);
      }
    });
    const nativeGradient = tf.tidy(() => {
      const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => (tf.engine().runKernel('_FusedMatMul', { a, b, bias: c }, { transposeA: false, transposeB: false, activation: 'sigmoid' } as unknown as tf.NamedAttrMap) as tf.Tensor).square().sum() as tf.Scalar;
      return tf.grads(f)([x, variables[0]!, random([5], 47)]).map((t) => t.dataSync() as Float32Array);
    });
    nativeGradient.forEach((values, i) => expect(relativeError(values, opsGradient[i]!), ['dx', 'dkernel', 'dbias'][i]).toBeLessThanOrEqual(1e-6));
    tf.dispose(x);
    layer.dispose();
  });

  it('an MLP trains to the same weights, to the bit, as with TF.js\'s layer, and serialises as the stock Dense', async () => {
    const spec = resolveSpec({
      dataset: { name: 'mnist', limit: 96 },
      model: { layers: [{ type: 'dense', units: 32, activation: 'relu' }, { type: 'dense', units: 16, activation: 'sigmoid' }, { type: 'dense', units: 10 }] },
      optimizer: 'adam',
      learningRate: 0.01,
      epochs: 2,
      batchSize: 16,
      seed: 26,
    });
    const { fused, stock } = await finalWeightsFusedAndStock(Dense, spec);
    expect(fused).toEqual(stock);
    expect(new Dense({ units: 1 }).getClassName()).toBe('Dense');
  });
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
