import * as tf from '@tensorflow/tfjs';
import { DENSE_GRAD_KERNEL, FUSED_DENSE_ACTIVATIONS } from './fused-kernel-names.js';
import { gradientNeeded } from './gradient-reach.js';

/**
 * The gradient of `_FusedMatMul` as a dense layer's product (x [rows, in] · w [in, out] + bias, then
 * linear, relu or sigmoid), for the layers that run that kernel themselves: the Dense layer and the
 * attention and feed-forward projections. tf.fused.matMul differentiates itself (customGrad), so only
 * those direct calls come here. On native the gradient is one kernel (DENSE_GRAD_KERNEL: the
 * activation's gradient, dx, dw and db) doing the unfused gradient's float operations with the same
 * products, so the weights come out as unfused to the bit (tested); elsewhere it is those ops.
 */

const covered: ReadonlySet<string> = new Set(FUSED_DENSE_ACTIVATIONS);

tf.registerGradient({
  kernelName: tf._FusedMatMul,
  inputsToSave: ['a', 'b'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, w, y] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    const { transposeA, transposeB, activation } = attrs as unknown as { transposeA: boolean; transposeB: boolean; activation: string };
    if (transposeA || transposeB || x.rank !== 2 || w.rank !== 2 || !covered.has(activation)) {
      throw new Error(`_FusedMatMul's gradient covers a dense layer's product (rank 2, no transposes, ${FUSED_DENSE_ACTIVATIONS.join(', ')}), not this one`);
    }
    const upstream = dy as tf.Tensor2D;
    // The unfused gradient as TF.js computes it: the activation's (from its output), then the products' and Add's.
    const unfused = () => {
      const g = activation === 'relu' ? tf.mul(upstream, tf.cast(tf.step(y), 'float32')) : activation === 'sigmoid' ? tf.mul(upstream, tf.mul(y, tf.sub(1, y))) : upstream;
      return { a: () => tf.matMul(g, w, false, true), b: () => tf.matMul(x, g, true, false), bias: () => tf.sum(g, 0) };
    };
    if (tf.getKernel(DENSE_GRAD_KERNEL, tf.getBackend()) === undefined) return unfused();
    // One pass gives all three, or dw and db alone where nothing asks for dx (the data batch's); the
    // engine disposes whichever it does not use (a frozen layer's).
    const inputGradient = gradientNeeded(x);
    const [dw, db, dx] = tf.engine().runKernel(DENSE_GRAD_KERNEL, { dy: upstream, x, w, y }, { activation, inputGradient }) as tf.Tensor[];
    // Asked for a dx left out, a() still answers, from the unfused ops.
    return { a: () => dx ?? unfused().a(), b: () => dw!, bias: () => db! };
  },
});

/** Whether a product with this activation runs fused, and differentiates in one kernel, on the current backend. */
export function fusedDenseAvailable(activation: string): boolean {
  return covered.has(activation) && tf.getKernel(DENSE_GRAD_KERNEL, tf.getBackend()) !== undefined;
}

/** x [rows, in] · kernel [in, out] + bias, then the activation, as one `_FusedMatMul` (fusedDenseAvailable says where it differentiates in one kernel). */
export function fusedDense(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null, activation: (typeof FUSED_DENSE_ACTIVATIONS)[number]): tf.Tensor {
  const attrs = { transposeA: false, transposeB: false, activation, leakyreluAlpha: 0.2 };
  return tf.engine().runKernel(tf._FusedMatMul, { a: x, b: kernel, ...(bias ? { bias } : {}) }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}
