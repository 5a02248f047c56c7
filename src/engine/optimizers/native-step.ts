import * as tf from '@tensorflow/tfjs';
import { OPTIMIZER_STEP_KERNEL } from '../backends/native-kernels.js';

export type OptimizerRule = 'sgd' | 'momentum' | 'nesterov' | 'adagrad' | 'rmsprop' | 'adam';

/**
 * One variable's update as a single native kernel, when the backend has it (`native`): the same
 * float32 arithmetic as the rule's TF.js ops, without their dozen dispatches per variable, which
 * dominated a step once the matrix products were native. Null elsewhere: the caller runs the ops.
 * Returns θ' and the new slots, in the order given.
 */
export function nativeOptimizerStep(rule: OptimizerRule, theta: tf.Tensor, g: tf.Tensor, slots: tf.Tensor[], params: Record<string, number>): tf.Tensor[] | null {
  if (!tf.getKernel(OPTIMIZER_STEP_KERNEL, tf.getBackend())) return null;
  if (theta.dtype !== 'float32' || g.dtype !== 'float32' || slots.some((slot) => slot.dtype !== 'float32')) return null;
  const inputs: tf.NamedTensorMap = { theta, g };
  slots.forEach((slot, i) => (inputs[`slot${i}`] = slot));
  return tf.engine().runKernel(OPTIMIZER_STEP_KERNEL, inputs, { rule, ...params }) as tf.Tensor[];
}
