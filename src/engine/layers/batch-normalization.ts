import * as tf from '@tensorflow/tfjs';

export interface BatchNormalizationArgs {
  name: string;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  inputShape?: number[];
}

/**
 * Batch normalization (Ioffe & Szegedy 2015) over the last axis, as PyTorch's BatchNorm computes
 * it: the batch is normalised with its biased variance, and the running variance is fed the
 * unbiased one, σ²_B · m/(m − 1) with m the values per channel (Alg. 2; TF.js and Keras feed the
 * biased one, so their inference drifts from PyTorch's eval()). Without `center` β is 0, without
 * `scale` γ is 1 (TF.js's own layer cannot train with either off).
 *
 * Serialises as the stock BatchNormalization with the same weights (gamma, beta, moving_mean,
 * moving_variance): inference is the same formula, so exported models load anywhere.
 */
export class BatchNormalization extends tf.layers.Layer {
  static readonly className = 'BatchNormalization';
  private readonly momentum: number;
  private readonly epsilon: number;
  private readonly center: boolean;
  private readonly scale: boolean;
  private gamma: tf.LayerVariable | null = null;
  private beta: tf.LayerVariable | null = null;
  private movingMean!: tf.LayerVariable;
  private movingVariance!: tf.LayerVariable;

  constructor(args: BatchNormalizationArgs) {
    super({ name: args.name, ...(args.inputShape ? { inputShape: args.inputShape } : {}) });
    this.momentum = args.momentum;
    this.epsilon = args.epsilon;
    this.center = args.center;
    this.scale = args.scale;
    this.supportsMasking = true;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1]!;
    if (this.scale) this.gamma = this.addWeight('gamma', [channels], 'float32', tf.initializers.ones());
    if (this.center) this.beta = this.addWeight('beta', [channels], 'float32', tf.initializers.zeros());
    this.movingMean = this.addWeight('moving_mean', [channels], 'float32', tf.initializers.zeros(), undefined, false);
    this.movingVariance = this.addWeight('moving_variance', [channels], 'float32', tf.initializers.ones(), undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      // Fixed γ = 1, β = 0 when they are not learned (the fused kernel's gradient wants tensors, not undefined).
      const gamma = this.gamma?.read() ?? tf.onesLike(this.movingMean.read());
      const beta = this.beta?.read() ?? tf.zerosLike(this.movingMean.read());
      if (!kwargs.training) return tf.batchNorm(x, this.movingMean.read(), this.movingVariance.read(), beta, gamma, this.epsilon);
      const axes = x.shape.slice(0, -1).map((_, axis) => axis);
      const { mean, variance } = tf.moments(x, axes);
      const m = x.size / x.shape[x.rank - 1]!;
      // One value per channel has no spread to estimate: its running variance is left as it is.
      const unbiased = m > 1 ? tf.mul(variance, m / (m - 1)) : this.movingVariance.read();
      const decay = 1 - this.momentum;
      for (const [running, batch] of [
        [this.movingMean, mean],
        [this.movingVariance, unbiased],
      ] as const) {
        const value = running.read();
        running.write(tf.sub(value, tf.mul(tf.sub(value, batch), decay)));
      }
      return tf.batchNorm(x, mean, variance, beta, gamma, this.epsilon);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      axis: -1,
      momentum: this.momentum,
      epsilon: this.epsilon,
      center: this.center,
      scale: this.scale,
      betaInitializer: { className: 'Zeros', config: {} },
      gammaInitializer: { className: 'Ones', config: {} },
      movingMeanInitializer: { className: 'Zeros', config: {} },
      movingVarianceInitializer: { className: 'Ones', config: {} },
      betaRegularizer: null,
      gammaRegularizer: null,
      betaConstraint: null,
      gammaConstraint: null,
    };
  }
}
