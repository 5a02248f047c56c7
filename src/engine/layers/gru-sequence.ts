import * as tf from '@tensorflow/tfjs';
import { GRU_SEQUENCE_GRAD_KERNEL, GRU_SEQUENCE_KERNEL } from '../backends/native-gru.js';

/**
 * A GRU over a whole sequence as a single kernel where the backend has it (`native`), with its
 * gradient as one kernel: from the input term pre = x W of every step, the bias b and the
 * recurrent kernel U, every h_t. The kernel adds b to x W itself (and sums its gradient), which
 * saves an Add over [B, T, 3U] forward and a Sum back, with the same bits as those two kernels. Elsewhere the recurrent layer composes each step from TF.js ops,
 * to the same formulas (Keras's GRU, reset gate before the recurrent product).
 */

tf.registerGradient({
  kernelName: GRU_SEQUENCE_KERNEL,
  inputsToSave: ['kernel'],
  outputsToSave: [true, false, true],
  gradFunc: (dys, saved) => {
    // The engine hands zeros for an output nothing used (hs when only the last state is, and the gates).
    const [dHs, dLast] = dys as tf.Tensor[];
    const [kernel, hs, gates] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
    // Both gradients come out of one pass back through time, so the pass runs here, once, and the
    // engine picks each up (it disposes them with the rest of the backward pass's intermediates).
    const [dPre, dKernel, dBias] = tf.engine().runKernel(GRU_SEQUENCE_GRAD_KERNEL, { dHs: dHs!, dLast: dLast!, hs, gates, kernel }) as tf.Tensor[];
    return { pre: () => dPre!, kernel: () => dKernel!, bias: () => dBias! };
  },
});

export function fusedGruSequenceAvailable(): boolean {
  return tf.getKernel(GRU_SEQUENCE_KERNEL, tf.getBackend()) !== undefined;
}

/** pre = x W [B, T, 3U] (gate blocks z, r, h), bias [3U], recurrent kernel [U, 3U] → every h_t [B, T, U] and the last [B, U], from h_0 = 0. Only where fusedGruSequenceAvailable(). */
export function fusedGruSequence(pre: tf.Tensor, bias: tf.Tensor, kernel: tf.Tensor): { hs: tf.Tensor; last: tf.Tensor } {
  const [hs, last] = tf.engine().runKernel(GRU_SEQUENCE_KERNEL, { pre, bias, kernel }) as tf.Tensor[];
  return { hs: hs!, last: last! };
}
