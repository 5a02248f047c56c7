import type * as tf from '@tensorflow/tfjs';
import { heap, output, size, type KernelArgs, type NativeAddon } from './native-addon.js';

/**
 * Layer normalization over the last axis as two kernels of the native backend: forward, and the
 * gradient of all three inputs. TF.js's layer takes about twenty kernels each way (moments, four
 * tiles, batch normalization and their gradients). src/engine/layers/layer-normalization.ts is the
 * op that uses them where they are registered.
 */

import { LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL } from '../layers/fused-kernel-names.js';

export { LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL };

/** Inputs x […, C], gamma and beta [C]; attribute epsilon. Outputs y (x's shape), and each row's mean and 1/√(variance + ε) […]. */
function layerNorm(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { x, gamma, beta } = inputs;
  const cols = x!.shape.at(-1)!;
  const rowShape = x!.shape.slice(0, -1);
  const outputs = [output(backend, x!.shape), output(backend, rowShape), output(backend, rowShape)] as const;
  const [y, mean, rstd] = outputs.map((info) => heap(backend, info)) as [Float32Array, Float32Array, Float32Array];
  addon.layerNorm(heap(backend, x!), heap(backend, gamma!), heap(backend, beta!), y, mean, rstd, size(rowShape), cols, attrs?.epsilon as number);
  return [...outputs];
}

/** Inputs dy, x, gamma and the forward pass's mean and rstd; outputs dx, dgamma, dbeta. */
function layerNormGrad(addon: NativeAddon, { inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const { dy, x, gamma, mean, rstd } = inputs;
  const cols = x!.shape.at(-1)!;
  const outputs = [output(backend, x!.shape), output(backend, [cols]), output(backend, [cols])] as const;
  const [dx, dgamma, dbeta] = outputs.map((info) => heap(backend, info)) as [Float32Array, Float32Array, Float32Array];
  addon.layerNormGrad(heap(backend, dy!), heap(backend, x!), heap(backend, gamma!), heap(backend, mean!), heap(backend, rstd!), dx, dgamma, dbeta, size(x!.shape) / cols, cols);
  return [...outputs];
}

export const layerNormKernels: Record<string, (addon: NativeAddon, args: KernelArgs) => tf.TensorInfo[]> = {
  [LAYER_NORM_KERNEL]: layerNorm,
  [LAYER_NORM_GRAD_KERNEL]: layerNormGrad,
};
