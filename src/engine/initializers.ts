import * as tf from '@tensorflow/tfjs';
import type { InitializerConfig } from '../spec/initializer-spec.js';

/** fan_in, fan_out of a weight shape, as Keras computes them. */
export function fans(shape: number[]): { fanIn: number; fanOut: number } {
  if (shape.length === 1) return { fanIn: shape[0]!, fanOut: shape[0]! };
  if (shape.length === 2) return { fanIn: shape[0]!, fanOut: shape[1]! };
  // Convolution kernels: the receptive field times the input or output channels.
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return { fanIn: receptive * shape.at(-2)!, fanOut: receptive * shape.at(-1)! };
}

/**
 * Initial values of a weight of `shape`, exactly by the catalogue's definitions (docs/techniques/initialization.md).
 * TF.js's own heNormal and glorotNormal draw from a truncated normal, whose variance is about 0.77
 * of the nominal one; these draw from the normal itself, so Var = 2/fan_in holds.
 */
export function initialValues(config: InitializerConfig, shape: number[], seed: number): tf.Tensor {
  const { fanIn, fanOut } = fans(shape);
  switch (config.type) {
    case 'uniform':
      return tf.randomUniform(shape, -config.limit, config.limit, 'float32', seed);
    case 'normal':
      return tf.randomNormal(shape, config.mean, config.stddev, 'float32', seed);
    case 'zeros':
      return tf.zeros(shape);
    case 'constant':
      return tf.fill(shape, config.value);
    case 'glorotUniform': {
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      return tf.randomUniform(shape, -limit, limit, 'float32', seed);
    }
    case 'glorotNormal':
      return tf.randomNormal(shape, 0, Math.sqrt(2 / (fanIn + fanOut)), 'float32', seed);
    case 'heNormal':
      return tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed);
    case 'heUniform': {
      const limit = Math.sqrt(6 / fanIn);
      return tf.randomUniform(shape, -limit, limit, 'float32', seed);
    }
    case 'orthogonal':
      return orthogonal(shape, config.gain, seed);
    case 'identity':
      if (shape.length !== 2 || shape[0] !== shape[1]) throw new Error(`identity needs a square matrix, not [${shape.join(', ')}]`);
      return tf.mul(tf.eye(shape[0]!), config.gain);
  }
}

/** gain · Q from the QR decomposition of a normal matrix, signs fixed by R's diagonal (Saxe et al.). */
function orthogonal(shape: number[], gain: number, seed: number): tf.Tensor {
  if (shape.length !== 2) throw new Error(`orthogonal needs a 2-D weight, not [${shape.join(', ')}]`);
  const [rows, cols] = shape as [number, number];
  return tf.tidy(() => {
    // QR wants at least as many rows as columns; a wide matrix is the transpose of a tall one.
    const tall = rows >= cols;
    const a = tf.randomNormal(tall ? [rows, cols] : [cols, rows], 0, 1, 'float32', seed) as tf.Tensor2D;
    const [q, r] = tf.linalg.qr(a);
    const signs = tf.sign(tf.sum(tf.mul(r, tf.eye(r.shape[0], r.shape[1])), 0));
    const fixed = tf.mul(q, signs);
    return tf.mul(tall ? fixed : fixed.transpose(), gain);
  });
}
