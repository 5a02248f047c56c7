import * as tf from '@tensorflow/tfjs';
import { GRU_SEQUENCE_GRAD_KERNEL, GRU_SEQUENCE_KERNEL } from '../backends/native-gru.js';

/**
 * A GRU over a whole sequence as a single kernel where the backend has it (`native`), with its
 * gradient as one kernel: from the input term pre = x W of every step, the bias b and the
 * recurrent kernel U, every h_t. The kernel adds b to x W itself (and sums its gradient), which
 * saves an Add over [B, T, 3U] forward and a Sum back, with the same bits as those two kernels.
 * Elsewhere the recurrent layer composes each step from TF.js ops, to the same formulas (Keras's
 * GRU, reset gate before the recurrent product).
 *
 * The kernel's gradient is a custom gradient of the one output the layer uses (every h_t, or the
 * last), with the gates saved rather than returned: for a kernel output nothing used, the engine
 * hands its gradient function zeros made in JavaScript and copied into the wasm heap (the gates,
 * [B, T, 3U], every training step).
 */

export function fusedGruSequenceAvailable(): boolean {
  return tf.getKernel(GRU_SEQUENCE_KERNEL, tf.getBackend()) !== undefined;
}

/**
 * pre = x W [B, T, 3U] (gate blocks z, r, h), bias [3U], recurrent kernel [U, 3U] → every h_t
 * [B, T, U] (`returnSequences`) or the last [B, U], from h_0 = 0. Only where fusedGruSequenceAvailable().
 */
export function fusedGruSequence(pre: tf.Tensor, bias: tf.Tensor, kernel: tf.Tensor, returnSequences: boolean): tf.Tensor {
  const sequence = tf.customGrad((p, b, k, save) => {
    const [hs, last, gates] = tf.engine().runKernel(GRU_SEQUENCE_KERNEL, { pre: p as tf.Tensor, bias: b as tf.Tensor, kernel: k as tf.Tensor }) as tf.Tensor[];
    (save as tf.GradSaveFunc)([k as tf.Tensor, hs!, gates!]);
    return {
      value: returnSequences ? hs! : last!,
      gradFunc: (dy, saved) => {
        const [savedKernel, savedHs, savedGates] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const upstream = dy as tf.Tensor;
        const [dPre, dKernel, dBias] = tf.engine().runKernel(GRU_SEQUENCE_GRAD_KERNEL, {
          ...(returnSequences ? { dHs: upstream } : { dLast: upstream }),
          hs: savedHs,
          gates: savedGates,
          kernel: savedKernel,
        }) as tf.Tensor[];
        return [dPre!, dBias!, dKernel!];
      },
    };
  });
  return sequence(pre, bias, kernel);
}
