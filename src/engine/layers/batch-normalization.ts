import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_GRAD_KERNEL, BATCH_NORM_KERNEL } from './fused-kernel-names.js';

export interface BatchNormalizationArgs {
  name: string;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  inputShape?: number[];
}

/** One training pass's forward inside tf.customGrad: y, the batch statistics, the tensors its gradient needs, and that gradient (dx, dγ, dβ). */
interface TrainingPass {
  value: tf.Tensor;
  mean: tf.Tensor;
  variance: tf.Tensor;
  saved: tf.Tensor[];
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
}

/**
 * Composed of TF.js ops, with the gradient in closed form (Ioffe & Szegedy 2015, §3; m values per channel):
 *
 *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = (γ·r/m)·(m·dy − dβ − x̂·dγ)
 *
 * TF.js's gradient of tf.batchNorm tiles r (and γ) out to the activation's shape with the stock wasm
 * Tile, which was two thirds of a ResNet step on the native backend; here every per-channel factor is
 * a [C] operand that the elementwise kernels broadcast along the last axis, and the only passes over
 * the activation are a few elementwise ops and two reductions each way.
 */
function composedPass(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): TrainingPass {
  const axes = x.shape.slice(0, -1).map((_, axis) => axis);
  const m = x.size / x.shape[x.rank - 1]!;
  // tf.moments' own ops, so that μ and σ² (and the running statistics fed from them) are the numbers they were.
  const mean = tf.mean(x, axes);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), axes);
  const rstd = tf.rsqrt(tf.add(variance, epsilon));
  const normalized = tf.mul(centered, rstd);
  return {
    value: tf.add(tf.mul(normalized, gamma), beta),
    mean,
    variance,
    saved: [normalized, tf.mul(gamma, rstd)],
    gradFunc: (dy, [xHat, gammaRstd]) => {
      const dbeta = tf.sum(dy, axes);
      const dgamma = tf.sum(tf.mul(dy, xHat!), axes);
      // (γ·r/m)·(m·dy − dβ − x̂·dγ) = γ·r·(dy − (x̂·dγ/m + dβ/m)): the per-channel factors are divided by m, not the activation multiplied.
      const dx = tf.mul(tf.sub(dy, tf.add(tf.mul(xHat!, tf.div(dgamma, m)), tf.div(dbeta, m))), gammaRstd!);
      return [dx, dgamma, dbeta];
    },
  };
}

/**
 * The same pass as two kernels of the native backend (src/engine/backends/native-batch-norm.ts), one
 * each way, with the composed ops' numbers to the bit; x̂ is made again from x in the gradient rather
 * than kept, which saves an activation-sized tensor per layer.
 */
function fusedPass(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): TrainingPass {
  const [value, mean, variance, rstd] = tf.engine().runKernel(BATCH_NORM_KERNEL, { x, gamma, beta }, { epsilon }) as tf.Tensor[];
  return {
    value: value!,
    mean: mean!,
    variance: variance!,
    saved: [x, gamma, mean!, rstd!],
    gradFunc: (dy, [input, scale, batchMean, batchRstd]) =>
      tf.engine().runKernel(BATCH_NORM_GRAD_KERNEL, { dy, x: input!, gamma: scale!, mean: batchMean!, rstd: batchRstd! }) as tf.Tensor[],
  };
}

export function fusedBatchNormAvailable(): boolean {
  return tf.getKernel(BATCH_NORM_KERNEL, tf.getBackend()) !== undefined;
}

/**
 * Training-mode batch normalization over the last axis, γ·x̂ + β with x̂ = (x − μ)·r and
 * r = 1/√(σ²_B + ε). The batch statistics are computed inside from x, so dx is the whole
 * derivative, through μ and σ² too.
 *
 * Returns the batch mean and biased variance as well (for the running statistics). They are made in
 * the custom op's forward, where the tape is off, so nothing differentiates through them.
 */
export function batchNormTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const pass = fusedBatchNormAvailable() && x.dtype === 'float32' && x.size > 0 ? fusedPass : composedPass;
  let statistics: [tf.Tensor, tf.Tensor] | undefined;
  const y = tf.customGrad((...args) => {
    const [input, scale, offset, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const { value, mean, variance, saved, gradFunc } = pass(input, scale, offset, epsilon);
    // Kept past the custom op's own tidy, and handed to the caller's scope below.
    statistics = [tf.keep(mean), tf.keep(variance)];
    save(saved);
    return { value, gradFunc: (dy, kept) => gradFunc(Array.isArray(dy) ? dy[0]! : dy, kept) };
  })(x, gamma, beta);
  // Clones in the caller's scope, so that its tidy disposes them (a kept tensor no tidy would).
  const [mean, variance] = statistics!.map((kept) => {
    const tracked = tf.clone(kept);
    kept.dispose();
    return tracked;
  }) as [tf.Tensor, tf.Tensor];
  return { y, mean, variance };
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
      // Fixed γ = 1, β = 0 when they are not learned: both paths want tensors, and the gradients they get are not used.
      const gamma = this.gamma?.read() ?? tf.onesLike(this.movingMean.read());
      const beta = this.beta?.read() ?? tf.zerosLike(this.movingMean.read());
      if (!kwargs.training) return tf.batchNorm(x, this.movingMean.read(), this.movingVariance.read(), beta, gamma, this.epsilon);
      const { y, mean, variance } = batchNormTraining(x, gamma, beta, this.epsilon);
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
      return y;
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
