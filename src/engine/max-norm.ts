import * as tf from '@tensorflow/tfjs';
import type { ResolvedJobSpec } from '../spec/job-spec.js';
import type { LayerSpec } from '../spec/layer-spec.js';
import { layerNameOf } from '../spec/weight-shapes.js';

/** A kernel whose units are held to an L2 norm of at most `maxNorm`. */
export interface MaxNormConstraint {
  variable: tf.Variable;
  maxNorm: number;
  /** The axes a unit's incoming weights span: all but the last (the units). */
  axes: number[];
}

/**
 * The max-norm constraints of a spec (Srivastava et al. 2014): every dense and conv2d kernel with
 * its layer's maxNorm, or regularization.maxNorm. A unit is an output unit (a filter of a
 * convolution): its incoming weights are the kernel's slice along the last axis.
 */
export function maxNormConstraints(spec: ResolvedJobSpec, model: tf.LayersModel): MaxNormConstraint[] {
  const constraints: MaxNormConstraint[] = [];
  spec.model.layers.forEach((layer: LayerSpec, index) => {
    if (layer.type !== 'dense' && layer.type !== 'conv2d') return;
    const maxNorm = layer.maxNorm ?? spec.regularization.maxNorm;
    if (maxNorm === undefined) return;
    const kernel = model.getLayer(layerNameOf(layer, index)).trainableWeights.find((weight) => weight.originalName.endsWith('/kernel'));
    if (!kernel) return;
    constraints.push({ variable: kernel.read() as tf.Variable, maxNorm, axes: kernel.shape.slice(0, -1).map((_, axis) => axis) });
  });
  return constraints;
}

/**
 * After an optimizer step: each unit whose norm exceeds c is scaled by c / (norm + 1e-7), the others
 * are left exactly as they are (torch.renorm; Keras's MaxNorm also scales those within bounds, by
 * norm / (norm + 1e-7), a change of a few ulps).
 */
export function applyMaxNorm(constraints: MaxNormConstraint[]): void {
  for (const { variable, maxNorm, axes } of constraints) {
    tf.tidy(() => {
      const norms = tf.sqrt(tf.sum(tf.square(variable), axes, true));
      const scale = tf.where(tf.greater(norms, maxNorm), tf.div(maxNorm, tf.add(norms, 1e-7)), tf.onesLike(norms));
      variable.assign(tf.mul(variable, scale));
    });
  }
}
