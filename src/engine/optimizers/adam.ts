import * as tf from '@tensorflow/tfjs';
import { nativeOptimizerStep } from './native-step.js';
import { TrainingOptimizer } from './training-optimizer.js';

export interface AdamOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** AMSGrad in torch's form: the running maximum of v (not of v̂), bias-corrected afterwards. */
  amsgrad?: boolean;
  /** Decoupled (AdamW): θ ← θ − η λ θ first, on θ before this step's update. */
  decoupledWeightDecay?: number;
  /** Coupled (torch.optim.Adam's weight_decay): g ← g + λ θ. */
  weightDecay?: number;
}

/**
 * m ← β1 m + (1−β1) g ; v ← β2 v + (1−β2) g² ; m̂ = m/(1−β1ᵗ) ; v̂ = v/(1−β2ᵗ) ;
 * θ ← θ − η m̂ / (√v̂ + ε).
 */
export class Adam extends TrainingOptimizer {
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly amsgrad: boolean;
  private readonly decoupled: number;

  constructor(options: AdamOptions) {
    super(options.weightDecay ?? 0);
    this.beta1 = options.beta1;
    this.beta2 = options.beta2;
    this.epsilon = options.epsilon;
    this.amsgrad = options.amsgrad ?? false;
    this.decoupled = options.decoupledWeightDecay ?? 0;
  }

  protected update(variables: tf.Variable[], gradients: tf.Tensor[], lr: number, t: number): void {
    const firstMoment = this.slot('m', variables);
    const secondMoment = this.slot('v', variables);
    const maxSecondMoment = this.amsgrad ? this.slot('vMax', variables) : null;
    // Bias corrections in float64 on the host, as torch computes them from Python floats.
    const correction1 = 1 - this.beta1 ** t;
    const correction2 = 1 - this.beta2 ** t;
    variables.forEach((theta, i) => {
      const g = gradients[i]!;
      if (!maxSecondMoment) {
        const native = nativeOptimizerStep('adam', theta, g, [firstMoment[i]!, secondMoment[i]!], {
          lr,
          beta1: this.beta1,
          beta2: this.beta2,
          epsilon: this.epsilon,
          correction1,
          correction2,
          weightDecay: this.decoupled,
        });
        if (native) {
          firstMoment[i]!.assign(native[1]!);
          secondMoment[i]!.assign(native[2]!);
          theta.assign(native[0]!);
          return;
        }
      }
      const m = tf.add(tf.mul(this.beta1, firstMoment[i]!), tf.mul(1 - this.beta1, g));
      const v = tf.add(tf.mul(this.beta2, secondMoment[i]!), tf.mul(1 - this.beta2, tf.square(g)));
      firstMoment[i]!.assign(m);
      secondMoment[i]!.assign(v);
      let denominatorSquare: tf.Tensor = v;
      if (maxSecondMoment) {
        denominatorSquare = tf.maximum(maxSecondMoment[i]!, v);
        maxSecondMoment[i]!.assign(denominatorSquare);
      }
      const decayed = this.decoupled > 0 ? tf.mul(theta, 1 - lr * this.decoupled) : theta;
      const step = tf.div(tf.div(m, correction1), tf.add(tf.sqrt(tf.div(denominatorSquare, correction2)), this.epsilon));
      theta.assign(tf.sub(decayed, tf.mul(lr, step)));
    });
  }
}
