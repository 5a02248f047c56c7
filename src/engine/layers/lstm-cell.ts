import * as tf from '@tensorflow/tfjs';
import { LSTM_CELL_GRAD_KERNEL, LSTM_CELL_KERNEL, LSTM_SEQUENCE_GRAD_KERNEL, LSTM_SEQUENCE_KERNEL } from '../backends/native-lstm-cell.js';
import { runSequenceKernel } from './sequence-kernel.js';

/**
 * One LSTM step as a single kernel where the backend has it (`native`), with its gradient as one
 * kernel per input: h, c' from the pre-activations pre = x W + h U + b and c. Elsewhere the
 * recurrent layer composes the step from TF.js ops, to the same formulas. And the LSTM over a whole
 * sequence as one kernel, with its gradient as one (as src/engine/layers/gru-sequence.ts does for the GRU).
 */

tf.registerGradient({
  kernelName: LSTM_CELL_KERNEL,
  inputsToSave: ['c'],
  outputsToSave: [false, false, true],
  gradFunc: (dys, saved) => {
    // The engine hands zeros for an output nothing used (c' after the last step, the gates).
    const [dh, dc] = dys as tf.Tensor[];
    const [cPrev, gates] = saved as [tf.Tensor, tf.Tensor];
    const gradient = (wants: 'pre' | 'c') => () => tf.engine().runKernel(LSTM_CELL_GRAD_KERNEL, { dh: dh!, dc: dc!, gates, cPrev }, { wants }) as tf.Tensor;
    return { pre: gradient('pre'), c: gradient('c') };
  },
});

export function fusedLstmCellAvailable(): boolean {
  return tf.getKernel(LSTM_CELL_KERNEL, tf.getBackend()) !== undefined;
}

/** pre [B, 4U] (gate blocks i, f, g, o), c [B, U] → h, c'. Only where fusedLstmCellAvailable(). */
export function fusedLstmCell(pre: tf.Tensor, c: tf.Tensor): { h: tf.Tensor; c: tf.Tensor } {
  const [h, next] = tf.engine().runKernel(LSTM_CELL_KERNEL, { pre, c }) as tf.Tensor[];
  return { h: h!, c: next! };
}

export function fusedLstmSequenceAvailable(): boolean {
  return tf.getKernel(LSTM_SEQUENCE_KERNEL, tf.getBackend()) !== undefined;
}

/**
 * pre = x W [B, T, 4U] (gate blocks i, f, g, o), bias [4U], recurrent kernel [U, 4U] → every h_t
 * [B, T, U] (`returnSequences`) or the last [B, U], from h_0 = c_0 = 0. The kernel adds the bias to
 * x W (as gru-sequence.ts), and every c_t and the gates are saved for the gradient
 * (sequence-kernel.ts). Only where fusedLstmSequenceAvailable().
 */
export function fusedLstmSequence(pre: tf.Tensor, bias: tf.Tensor, kernel: tf.Tensor, returnSequences: boolean): tf.Tensor {
  return runSequenceKernel({ forward: LSTM_SEQUENCE_KERNEL, gradient: LSTM_SEQUENCE_GRAD_KERNEL, outputs: ['hs', 'cs', 'last', 'gates'] }, pre, bias, kernel, returnSequences);
}
