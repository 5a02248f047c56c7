import * as tf from '@tensorflow/tfjs';

/**
 * Scales all gradients together so their global L2 norm is at most `maxNorm`, as
 * torch.nn.utils.clip_grad_norm_ does (coefficient maxNorm / (norm + 1e-6), capped at 1).
 */
export function clipByGlobalNorm(gradients: tf.Tensor[], maxNorm: number): tf.Tensor[] {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.addN(gradients.map((g) => tf.sum(tf.square(g)))));
    const coefficient = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
    return gradients.map((g) => tf.mul(g, coefficient));
  });
}

/** σ_t² = η / (1 + t)^γ (Neelakantan et al. 2016), t the 1-based step. */
export function gradientNoiseStddev(eta: number, gamma: number, step: number): number {
  return Math.sqrt(eta / (1 + step) ** gamma);
}

/**
 * g ← g + N(0, σ_t²), drawn from a seed derived from (seed, step, variable index): the same
 * seed gives the same noise on every backend, because TF.js draws seeded normals in JS.
 */
export function addGradientNoise(gradients: tf.Tensor[], options: { eta: number; gamma: number; step: number; seed: number }): tf.Tensor[] {
  const stddev = gradientNoiseStddev(options.eta, options.gamma, options.step);
  return tf.tidy(() =>
    gradients.map((g, index) => {
      const seed = (options.seed + Math.imul(options.step, 7919) + index * 104_729) >>> 0;
      return tf.add(g, tf.randomNormal(g.shape, 0, stddev, 'float32', seed));
    }),
  );
}
