import * as tf from '@tensorflow/tfjs';
import { nativeOptimizerStep } from './native-step.js';
import { TrainingOptimizer } from './training-optimizer.js';

/**
 * s ← γ s + (1−γ) g² ; θ ← θ − η g / (√s + ε).
 * Centered (Graves 2013): ḡ ← γ ḡ + (1−γ) g, and the denominator is √(s − ḡ²) + ε.
 * With momentum μ > 0 (torch.optim.RMSprop): b ← μ b + g / denominator ; θ ← θ − η b.
 */
export class Rmsprop extends TrainingOptimizer {
  constructor(
    private readonly rho: number,
    private readonly epsilon: number,
    private readonly momentum: number,
    private readonly centered = false,
    weightDecay = 0,
  ) {
    super(weightDecay);
  }

  protected update(variables: tf.Variable[], gradients: tf.Tensor[], lr: number): void {
    const squareAverage = this.slot('squareAverage', variables);
    const buffer = this.momentum > 0 ? this.slot('momentumBuffer', variables) : null;
    const gradientAverage = this.centered ? this.slot('gradientAverage', variables) : null;
    variables.forEach((theta, i) => {
      const g = gradients[i]!;
      if (!gradientAverage) {
        const native = nativeOptimizerStep('rmsprop', theta, g, buffer ? [squareAverage[i]!, buffer[i]!] : [squareAverage[i]!], {
          lr,
          rho: this.rho,
          epsilon: this.epsilon,
          momentum: this.momentum,
        });
        if (native) {
          squareAverage[i]!.assign(native[1]!);
          if (buffer) buffer[i]!.assign(native[2]!);
          theta.assign(native[0]!);
          return;
        }
      }
      const s = tf.add(tf.mul(this.rho, squareAverage[i]!), tf.mul(1 - this.rho, tf.square(g)));
      squareAverage[i]!.assign(s);
      let variance: tf.Tensor = s;
      if (gradientAverage) {
        const mean = tf.add(tf.mul(this.rho, gradientAverage[i]!), tf.mul(1 - this.rho, g));
        gradientAverage[i]!.assign(mean);
        variance = tf.sub(s, tf.square(mean));
      }
      let direction = tf.div(g, tf.add(tf.sqrt(variance), this.epsilon));
      if (buffer) {
        direction = tf.add(tf.mul(this.momentum, buffer[i]!), direction);
        buffer[i]!.assign(direction);
      }
      theta.assign(tf.sub(theta, tf.mul(lr, direction)));
    });
  }
}
