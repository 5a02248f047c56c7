import type * as tf from '@tensorflow/tfjs';
import { heap, output, type KernelArgs, type NativeAddon } from './native-addon.js';

/**
 * The GRU over a whole sequence as two kernels of the native backend: forward, and back through
 * time. src/engine/layers/gru-sequence.ts is the op that uses them where they are registered.
 */

export const GRU_SEQUENCE_KERNEL = 'TrainyardGruSequence';
export const GRU_SEQUENCE_GRAD_KERNEL = 'TrainyardGruSequenceGrad';

/** Inputs pre [B, T, 3U] (x W), the bias [3U] and the recurrent kernel [U, 3U]; outputs hs [B, T, U], last [B, U] and the gates z, r, h̃ [B, T, 3U]. */
function gruSequence(addon: NativeAddon, { inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const pre = inputs.pre!;
  const [batch, steps, width] = pre.shape as [number, number, number];
  const units = width / 3;
  const outputs = [output(backend, [batch, steps, units]), output(backend, [batch, units]), output(backend, [batch, steps, 3 * units])] as const;
  const [hs, last, gates] = outputs.map((info) => heap(backend, info)) as [Float32Array, Float32Array, Float32Array];
  addon.gruSequence(heap(backend, pre), heap(backend, inputs.bias!), heap(backend, inputs.kernel!), hs, last, gates, batch, steps, units);
  return [...outputs];
}

/** Inputs dHs or dLast (an absent one is zeros), the saved hs and gates, and the recurrent kernel; outputs the gradients of pre, of the kernel and of the bias. */
function gruSequenceGrad(addon: NativeAddon, { inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const { dHs, dLast, hs, gates, kernel } = inputs;
  const [batch, steps, units] = hs!.shape as [number, number, number];
  const outputs = [output(backend, [batch, steps, 3 * units]), output(backend, [units, 3 * units]), output(backend, [3 * units])] as const;
  const [dPre, dKernel, dBias] = outputs.map((info) => heap(backend, info)) as [Float32Array, Float32Array, Float32Array];
  addon.gruSequenceGrad(dHs ? heap(backend, dHs) : null, dLast ? heap(backend, dLast) : null, heap(backend, hs!), heap(backend, gates!), heap(backend, kernel!), dPre, dKernel, dBias, batch, steps, units);
  return [...outputs];
}

export const gruSequenceKernels: Record<string, (addon: NativeAddon, args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]> = {
  [GRU_SEQUENCE_KERNEL]: gruSequence,
  [GRU_SEQUENCE_GRAD_KERNEL]: gruSequenceGrad,
};
