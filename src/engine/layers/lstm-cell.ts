import * as tf from '@tensorflow/tfjs';
import { LSTM_CELL_GRAD_KERNEL, LSTM_CELL_KERNEL } from '../backends/native-lstm-cell.js';

/**
 * One LSTM step as a single kernel where the backend has it (`native`), with its gradient as one
 * kernel per input: h, c' from the pre-activations pre = x W + h U + b and c. Elsewhere the
 * recurrent layer composes the step from TF.js ops, to the same formulas.
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
