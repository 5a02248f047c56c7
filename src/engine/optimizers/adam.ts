import * as tf from '@tensorflow/tfjs';
import { nativeOptimizerStep } from './native-step.js';
import { TrainingOptimizer } from './training-optimizer.js';

/**
 * m ← β1 m + (1−β1) g ; v ← β2 v + (1−β2) g² ; m̂ = m/(1−β1ᵗ) ; v̂ = v/(1−β2ᵗ) ;
 * θ ← θ − η m̂ / (√v̂ + ε).
 * With decoupled weight decay λ (AdamW): θ ← θ − η λ θ first, on θ before this step's update.
 */
export class Adam extends TrainingOptimizer {
  constructor(
    private readonly beta1: number,
    private readonly beta2: number,
    private readonly epsilon: number,
    private readonly weightDecay = 0,
  ) {
    super();
  }

  protected update(variables: tf.Variable[], gradients: tf.Tensor[], lr: number, t: number): void {
    const firstMoment = this.slot('m', variables);
    const secondMoment = this.slot('v', variables);
    // Bias corrections in float64 on the host, as torch computes them from Python floats.
    const correction1 = 1 - this.beta1 ** t;
    const correction2 = 1 - this.beta2 ** t;
    variables.forEach((theta, i) => {
      const g = gradients[i]!;
      const native = nativeOptimizerStep('adam', theta, g, [firstMoment[i]!, secondMoment[i]!], {
        lr,
        beta1: this.beta1,
        beta2: this.beta2,
        epsilon: this.epsilon,
        correction1,
        correction2,
        weightDecay: this.weightDecay,
      });
      if (native) {
        firstMoment[i]!.assign(native[1]!);
        secondMoment[i]!.assign(native[2]!);
        theta.assign(native[0]!);
        return;
      }
      const m = tf.add(tf.mul(this.beta1, firstMoment[i]!), tf.mul(1 - this.beta1, g));
      const v = tf.add(tf.mul(this.beta2, secondMoment[i]!), tf.mul(1 - this.beta2, tf.square(g)));
      firstMoment[i]!.assign(m);
      secondMoment[i]!.assign(v);
      const decayed = this.weightDecay > 0 ? tf.mul(theta, 1 - lr * this.weightDecay) : theta;
      const step = tf.div(tf.div(m, correction1), tf.add(tf.sqrt(tf.div(v, correction2)), this.epsilon));
      theta.assign(tf.sub(decayed, tf.mul(lr, step)));
    });
  }
}
