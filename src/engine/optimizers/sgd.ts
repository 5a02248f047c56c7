import * as tf from '@tensorflow/tfjs';
import { TrainingOptimizer } from './training-optimizer.js';

/** θ ← θ − η g */
export class Sgd extends TrainingOptimizer {
  protected update(variables: tf.Variable[], gradients: tf.Tensor[], lr: number): void {
    variables.forEach((theta, i) => theta.assign(tf.sub(theta, tf.mul(lr, gradients[i]!))));
  }
}
