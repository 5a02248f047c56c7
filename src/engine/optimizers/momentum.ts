import * as tf from '@tensorflow/tfjs';
import { nativeOptimizerStep } from './native-step.js';
import { TrainingOptimizer } from './training-optimizer.js';

/**
 * Classical: v ← μ v + (1 − d) g ; θ ← θ − η v.
 * Nesterov:  v ← μ v + g ; θ ← θ − η (g + μ v).
 * torch.optim.SGD: the first step sets v ← g whatever the dampening d (with d = 0 that equals
 * μ·0 + g, so only a dampened run needs to tell the first step apart).
 */
export class Momentum extends TrainingOptimizer {
  constructor(
    private readonly momentum: number,
    private readonly nesterov: boolean,
    private readonly dampening = 0,
    weightDecay = 0,
  ) {
    super(weightDecay);
  }

  protected update(variables: tf.Variable[], gradients: tf.Tensor[], lr: number, t: number): void {
    const velocity = this.slot('velocity', variables);
    variables.forEach((theta, i) => {
      const g = gradients[i]!;
      if (this.dampening === 0) {
        const native = nativeOptimizerStep(this.nesterov ? 'nesterov' : 'momentum', theta, g, [velocity[i]!], { lr, momentum: this.momentum });
        if (native) {
          velocity[i]!.assign(native[1]!);
          theta.assign(native[0]!);
          return;
        }
      }
      const fresh = t === 1 || this.dampening === 0 ? g : tf.mul(1 - this.dampening, g);
      const v = tf.add(tf.mul(this.momentum, velocity[i]!), fresh);
      velocity[i]!.assign(v);
      const direction = this.nesterov ? tf.add(g, tf.mul(this.momentum, v)) : v;
      theta.assign(tf.sub(theta, tf.mul(lr, direction)));
    });
  }
}
