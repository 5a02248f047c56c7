import * as tf from '@tensorflow/tfjs';
import { nativeOptimizerStep } from './native-step.js';
import { TrainingOptimizer } from './training-optimizer.js';

/** G ← G + g² ; θ ← θ − η g / (√G + ε)  (torch.optim.Adagrad, lr_decay 0) */
export class Adagrad extends TrainingOptimizer {
  constructor(
    private readonly epsilon: number,
    private readonly initialAccumulator: number,
    weightDecay = 0,
  ) {
    super(weightDecay);
  }

  protected update(variables: tf.Variable[], gradients: tf.Tensor[], lr: number): void {
    const accumulator = this.slot('accumulator', variables, this.initialAccumulator);
    variables.forEach((theta, i) => {
      const g = gradients[i]!;
      const native = nativeOptimizerStep('adagrad', theta, g, [accumulator[i]!], { lr, epsilon: this.epsilon });
      if (native) {
        accumulator[i]!.assign(native[1]!);
        theta.assign(native[0]!);
        return;
      }
      const sum = tf.add(accumulator[i]!, tf.square(g));
      accumulator[i]!.assign(sum);
      theta.assign(tf.sub(theta, tf.mul(lr, tf.div(g, tf.add(tf.sqrt(sum), this.epsilon)))));
    });
  }
}
