import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { installNativeKernels, loadNativeAddon } from '../../src/engine/backends/native-kernels.js';
import { BATCH_NORM_GRAD_KERNEL, BATCH_NORM_KERNEL } from '../../src/engine/layers/fused-kernel-names.js';
import { BatchNormalization, batchNormTraining, fusedBatchNormAvailable } from '../../src/engine/layers/batch-normalization.js';
import { testBackend } from '../support/test-backend.js';

// The batch norm layer's training pass computes its gradient in closed form (tf.customGrad) rather
// than through tf.batchNorm's, whose Tile dominated a ResNet step on the native backend. These hold
// it to what the layer computed before, on wasm and (in the native project) on native: tf.moments,
// tf.batchNorm and TF.js's autodiff through both. On native the pass is two kernels of its own, held
// below to the composed ops' bits.

beforeAll(async () => {
  await selectBackend(testBackend);
});

/** max |a − b| / max |b|: relative to the tensor's largest value, not floored at 1 (small gradients are held as tightly). */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return scale === 0 ? worst : worst / scale;
}

const random = (shape: number[], seed: number, mean = 0, stddev = 1) => tf.randomNormal(shape, mean, stddev, 'float32', seed);
const valuesOf = (tensors: tf.Tensor[]) => tensors.map((t) => t.dataSync() as Float32Array);

interface Case {
  name: string;
  shape: number[];
  center?: boolean;
  scale?: boolean;
  /** Where x's values sit: far from 0, x − μ cancels most of their bits. */
  shift?: number;
}

const cases: Case[] = [
  { name: '4-D [8, 6, 5, 16] (NHWC, as after a convolution)', shape: [8, 6, 5, 16] },
  { name: '2-D [32, 12] (as after a dense layer)', shape: [32, 12] },
  { name: '4-D, values around 20 with spread 3', shape: [4, 7, 7, 8], shift: 20 },
  { name: '2-D, without β (center false)', shape: [16, 10], center: false },
  { name: '4-D, without γ (scale false)', shape: [4, 3, 3, 6], scale: false },
  { name: '2-D, neither γ nor β', shape: [9, 5], center: false, scale: false },
];

describe(`batch normalization's training pass against tf.batchNorm's autodiff (${testBackend})`, () => {
  for (const c of cases) {
    it(`forward, dx, dγ, dβ and the running statistics: ${c.name}`, () => {
      const [center, scale] = [c.center ?? true, c.scale ?? true];
      const [epsilon, momentum] = [1e-3, 0.9];
      const channels = c.shape.at(-1)!;
      const axes = c.shape.slice(0, -1).map((_, axis) => axis);
      const layer = new BatchNormalization({ name: 'bn', momentum, epsilon, center, scale });
      layer.build(c.shape);
      const gamma = tf.add(random([channels], 2, 0, 0.5), 1);
      const beta = random([channels], 3);
      const [runningMean, runningVariance] = [random([channels], 4), tf.add(tf.abs(random([channels], 5)), 0.5)];
      layer.setWeights([...(scale ? [gamma] : []), ...(center ? [beta] : []), runningMean, runningVariance]);
      const x = random(c.shape, 6, c.shift ?? 0, c.shift ? 3 : 1);
      // A loss whose gradient is not constant over the batch (sum(y) alone gives dx = 0).
      const weights = random(c.shape, 7);

      const ours = tf.tidy(() => {
        const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
        const y = layer.apply(x, { training: true }) as tf.Tensor;
        const loss = () => (layer.apply(x, { training: true }) as tf.Tensor).mul(weights).sum() as tf.Scalar;
        // γ then β, as build adds them (variableGrads wants at least one, so neither: the layer is applied alone).
        const grads = variables.length > 0 ? tf.variableGrads(loss, variables).grads : (loss(), {});
        const dx = tf.grad((v: tf.Tensor) => (layer.apply(v, { training: true }) as tf.Tensor).mul(weights).sum())(x);
        return [y, dx, ...variables.map((v) => grads[v.name]!)];
      });
      const reference = tf.tidy(() => {
        const [g, b] = [scale ? gamma : tf.onesLike(gamma), center ? beta : tf.zerosLike(beta)];
        const f = (v: tf.Tensor, gv: tf.Tensor, bv: tf.Tensor) => {
          const { mean, variance } = tf.moments(v, axes);
          return tf.batchNorm(v, mean, variance, bv, gv, epsilon);
        };
        const y = f(x, g, b);
        const [dx, dg, db] = tf.grads((v: tf.Tensor, gv: tf.Tensor, bv: tf.Tensor) => f(v, gv, bv).mul(weights).sum())([x, g, b]);
        return [y, dx!, ...(scale ? [dg!] : []), ...(center ? [db!] : [])];
      });
      const labels = ['forward', 'dx', ...(scale ? ['dγ'] : []), ...(center ? ['dβ'] : [])];
      const [actual, expected] = [valuesOf(ours), valuesOf(reference)];
      actual.forEach((values, i) => expect(relativeError(values, expected[i]!), labels[i]).toBeLessThanOrEqual(1e-5));

      // The layer was applied three times in training; its running statistics took the update below each time, bit for bit as before.
      const [mean, variance] = valuesOf(
        tf.tidy(() => {
          const { mean: batchMean, variance: batchVariance } = tf.moments(x, axes);
          const m = x.size / channels;
          const unbiased = tf.mul(batchVariance, m / (m - 1));
          let [movingMean, movingVariance] = [runningMean, runningVariance];
          for (let i = 0; i < 3; i++) {
            movingMean = tf.sub(movingMean, tf.mul(tf.sub(movingMean, batchMean), 1 - momentum));
            movingVariance = tf.sub(movingVariance, tf.mul(tf.sub(movingVariance, unbiased), 1 - momentum));
          }
          return [movingMean, movingVariance];
        }),
      );
      const weightsNow = layer.getWeights();
      expect(Array.from(weightsNow.at(-2)!.dataSync()), 'running mean').toEqual(Array.from(mean!));
      expect(Array.from(weightsNow.at(-1)!.dataSync()), 'running variance').toEqual(Array.from(variance!));

      tf.dispose([...ours, ...reference, gamma, beta, runningMean, runningVariance, x, weights]);
      layer.weights.forEach((w) => w.dispose());
    });
  }

  it('leaves no tensors behind in training, forward and backward', () => {
    const layer = new BatchNormalization({ name: 'bn', momentum: 0.9, epsilon: 1e-3, center: true, scale: true });
    layer.build([4, 3, 3, 5]);
    const x = random([4, 3, 3, 5], 8);
    const run = () => tf.tidy(() => tf.grad((v: tf.Tensor) => (layer.apply(v, { training: true }) as tf.Tensor).sum())(x)).dispose();
    run();
    const before = tf.memory().numTensors;
    run();
    run();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    layer.weights.forEach((w) => w.dispose());
  });
});

describe.runIf(testBackend === 'native')('batch normalization as two native kernels', () => {
  /** y, dx, dγ, dβ and the batch statistics of one training pass, through batchNormTraining. */
  const pass = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, weights: tf.Tensor) =>
    tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(x, gamma, beta, 1e-5);
      const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => batchNormTraining(a, g, b, 1e-5).y.mul(weights).sum())([x, gamma, beta]);
      return [y, mean, variance, ...grads];
    });

  /** Where two arrays differ in their bits (the first few): a diff of a million values would take vitest minutes to print. */
  const differingBits = (a: Float32Array, b: Float32Array) => {
    const [x, y] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length)];
    const found: string[] = a.length === b.length ? [] : [`lengths ${a.length} and ${b.length}`];
    for (let i = 0; i < Math.min(x.length, y.length) && found.length < 5; i++) if (x[i] !== y[i]) found.push(`[${i}] ${a[i]} ≠ ${b[i]}`);
    return found;
  };

  /** The same pass with the fused kernels unregistered: the composed ops on the native backend's kernels. */
  function composed(compute: () => tf.Tensor[]): Float32Array[] {
    const kernel = tf.getKernel(BATCH_NORM_KERNEL, 'wasm')!;
    tf.unregisterKernel(BATCH_NORM_KERNEL, 'wasm');
    try {
      expect(fusedBatchNormAvailable()).toBe(false);
      return valuesOf(compute());
    } finally {
      tf.registerKernel(kernel);
    }
  }

  const shapes: Array<[string, number[], number]> = [
    ['a ResNet stem\'s activation [64, 28, 28, 16]', [64, 28, 28, 16], 0],
    ['150 channels (runs of 64 split unevenly over threads), values around 20', [4, 6, 5, 150], 20],
    ['fewer rows than a thread\'s share [3, 5]', [3, 5], 0],
  ];
  for (const threads of [1, 2]) {
    for (const [name, shape, shift] of shapes) {
      it(`${threads} thread(s), ${name}: the composed ops' y, statistics and gradients, to the bit`, () => {
        const addon = loadNativeAddon();
        if (addon instanceof Error) throw addon;
        installNativeKernels(addon, threads);
        try {
          const channels = shape.at(-1)!;
          const [x, gamma, beta, weights] = [random(shape, 11, shift, shift ? 3 : 1), tf.add(random([channels], 12, 0, 0.5), 1), random([channels], 13), random(shape, 14)];
          const profile = tf.tidy(() => pass(x, gamma, beta, weights));
          const fused = valuesOf(profile);
          const stock = composed(() => pass(x, gamma, beta, weights));
          ['y', 'mean', 'variance', 'dx', 'dγ', 'dβ'].forEach((label, i) => expect(differingBits(fused[i]!, stock[i]!), label).toEqual([]));
          tf.dispose([...profile, x, gamma, beta, weights]);
        } finally {
          installNativeKernels(addon, 1);
        }
      });
    }
  }

  it('runs as one kernel each way, not the composed ops', async () => {
    const [x, gamma, beta] = [random([4, 3, 3, 8], 15), tf.ones([8]), tf.zeros([8])];
    const { kernelNames } = await tf.profile(() => tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => batchNormTraining(a, g, b, 1e-3).y.sum())([x, gamma, beta]));
    expect(kernelNames).toEqual(expect.arrayContaining([BATCH_NORM_KERNEL, BATCH_NORM_GRAD_KERNEL]));
    expect(kernelNames).not.toContain('Rsqrt');
    tf.dispose([x, gamma, beta]);
  });
});
