import * as tf from '@tensorflow/tfjs';
import { nativeOptimizerStep } from './native-step.js';
import { TrainingOptimizer } from './training-optimizer.js';

/**
 * Classical: v ← μ v + g ; θ ← θ − η v.
 * Nesterov:  v ← μ v + g ; θ ← θ − η (g + μ v).
 * torch.optim.SGD with dampening 0; its first step (v = g) equals μ·0 + g.
 */
export class Momentum extends TrainingOptimizer {
  constructor(
    private readonly momentum: number,
    private readonly nesterov: boolean,
  ) {
    super();
  }

  protected update(variables: tf.Variable[], gradients: tf.Tensor[], lr: number): void {
    const velocity = this.slot('velocity', variables);
    variables.forEach((theta, i) => {
      const g = gradients[i]!;
      const native = nativeOptimizerStep(this.nesterov ? 'nesterov' : 'momentum', theta, g, [velocity[i]!], { lr, momentum: this.momentum });
      if (native) {
        velocity[i]!.assign(native[1]!);
        theta.assign(native[0]!);
        return;
      }
      const v = tf.add(tf.mul(this.momentum, velocity[i]!), g);
      velocity[i]!.assign(v);
      const direction = this.nesterov ? tf.add(g, tf.mul(this.momentum, v)) : v;
      theta.assign(tf.sub(theta, tf.mul(lr, direction)));
    });
  }
}
