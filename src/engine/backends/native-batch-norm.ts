import type * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_GRAD_KERNEL, BATCH_NORM_KERNEL } from '../layers/fused-kernel-names.js';
import { heap, output, size, type KernelArgs, type NativeAddon } from './native-addon.js';

/**
 * Batch normalization's training pass over the last axis as two kernels of the native backend:
 * forward with the batch statistics, and the gradient of x, γ and β. The layer's composed ops take a
 * dozen kernels each way, each a pass over the activation. src/engine/layers/batch-normalization.ts
 * is the op that uses them where they are registered.
 */

/** Inputs x […, C], gamma and beta [C]; attribute epsilon. Outputs y (x's shape), the batch mean, biased variance and 1/√(variance + ε) [C]. */
function batchNorm(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { x, gamma, beta } = inputs;
  const channels = x!.shape.at(-1)!;
  const outputs = [output(backend, x!.shape), output(backend, [channels]), output(backend, [channels]), output(backend, [channels])] as const;
  const [y, mean, variance, rstd] = outputs.map((info) => heap(backend, info)) as [Float32Array, Float32Array, Float32Array, Float32Array];
  addon.batchNorm(heap(backend, x!), heap(backend, gamma!), heap(backend, beta!), y, mean, variance, rstd, size(x!.shape) / channels, channels, attrs?.epsilon as number);
  return [...outputs];
}

/** Inputs dy, x, gamma and the forward pass's mean and rstd; outputs dx, dgamma, dbeta. */
function batchNormGrad(addon: NativeAddon, { inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const { dy, x, gamma, mean, rstd } = inputs;
  const channels = x!.shape.at(-1)!;
  const outputs = [output(backend, x!.shape), output(backend, [channels]), output(backend, [channels])] as const;
  const [dx, dgamma, dbeta] = outputs.map((info) => heap(backend, info)) as [Float32Array, Float32Array, Float32Array];
  addon.batchNormGrad(heap(backend, dy!), heap(backend, x!), heap(backend, gamma!), heap(backend, mean!), heap(backend, rstd!), dx, dgamma, dbeta, size(x!.shape) / channels, channels);
  return [...outputs];
}

export const batchNormKernels: Record<string, (addon: NativeAddon, args: KernelArgs) => tf.TensorInfo[]> = {
  [BATCH_NORM_KERNEL]: batchNorm,
  [BATCH_NORM_GRAD_KERNEL]: batchNormGrad,
};
