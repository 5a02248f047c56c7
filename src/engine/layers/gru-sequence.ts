import * as tf from '@tensorflow/tfjs';
import { GRU_SEQUENCE_GRAD_KERNEL, GRU_SEQUENCE_KERNEL } from '../backends/native-gru.js';
import { runSequenceKernel } from './sequence-kernel.js';

/**
 * A GRU over a whole sequence as a single kernel where the backend has it (`native`), with its
 * gradient as one kernel: from the input term pre = x W of every step, the bias b and the
 * recurrent kernel U, every h_t. The kernel adds b to x W itself (and sums its gradient), which
 * saves an Add over [B, T, 3U] forward and a Sum back, with the same bits as those two kernels.
 * Elsewhere the recurrent layer composes each step from TF.js ops, to the same formulas (Keras's
 * GRU, reset gate before the recurrent product).
 */

export function fusedGruSequenceAvailable(): boolean {
  return tf.getKernel(GRU_SEQUENCE_KERNEL, tf.getBackend()) !== undefined;
}

/**
 * pre = x W [B, T, 3U] (gate blocks z, r, h), bias [3U], recurrent kernel [U, 3U] → every h_t
 * [B, T, U] (`returnSequences`) or the last [B, U], from h_0 = 0. Only where fusedGruSequenceAvailable().
 */
export function fusedGruSequence(pre: tf.Tensor, bias: tf.Tensor, kernel: tf.Tensor, returnSequences: boolean): tf.Tensor {
  return runSequenceKernel({ forward: GRU_SEQUENCE_KERNEL, gradient: GRU_SEQUENCE_GRAD_KERNEL, outputs: ['hs', 'last', 'gates'] }, pre, bias, kernel, returnSequences);
}
