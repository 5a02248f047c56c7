import * as tf from '@tensorflow/tfjs';
import { nativeOptimizerStep } from './native-step.js';
import { TrainingOptimizer } from './training-optimizer.js';

/** θ ← θ − η g  (torch.optim.SGD without momentum; coupled weight decay in the base class) */
export class Sgd extends TrainingOptimizer {
  protected update(variables: tf.Variable[], gradients: tf.Tensor[], lr: number): void {
    variables.forEach((theta, i) => {
      const native = nativeOptimizerStep('sgd', theta, gradients[i]!, [], { lr });
      theta.assign(native ? native[0]! : tf.sub(theta, tf.mul(lr, gradients[i]!)));
    });
  }
}
