import type * as tf from '@tensorflow/tfjs';
import { ATTENTION_GRAD_KERNEL, ATTENTION_KERNEL } from '../layers/fused-kernel-names.js';
import { heap, output, type KernelArgs, type NativeAddon } from './native-addon.js';

/**
 * Scaled dot-product attention over heads as two kernels of the native backend, on the projections'
 * [batch, T, heads·d] layout: forward (keeping the probabilities), and the gradient of the query, key
 * and value. src/engine/layers/multi-head-attention.ts is the op that uses them where they are registered.
 */

export interface AttentionAttrs {
  heads: number;
  causal: boolean;
}

function shapeOf(q: tf.TensorInfo, k: tf.TensorInfo, v: tf.TensorInfo, { heads, causal }: AttentionAttrs) {
  const [batch, tq, queryWidth] = q.shape as [number, number, number];
  const dk = queryWidth / heads;
  return { batch, heads, tq, tk: k.shape[1]!, dk, dv: v.shape[2]! / heads, scale: 1 / Math.sqrt(dk), causal };
}

/** Inputs q [B, Tq, H·dk], k [B, Tk, H·dk], v [B, Tk, H·dv]; outputs the attended values [B, Tq, H·dv] and the probabilities [B, H, Tq, Tk]. */
function attention(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { q, k, v } = inputs;
  const shape = shapeOf(q!, k!, v!, attrs as unknown as AttentionAttrs);
  const outputs = [output(backend, [shape.batch, shape.tq, shape.heads * shape.dv]), output(backend, [shape.batch, shape.heads, shape.tq, shape.tk])] as const;
  const [out, probabilities] = outputs.map((info) => heap(backend, info)) as [Float32Array, Float32Array];
  addon.attention(heap(backend, q!), heap(backend, k!), heap(backend, v!), out, probabilities, shape);
  return [...outputs];
}

/** Inputs dy, q, k, v and the forward pass's probabilities; outputs dq, dk, dv. */
function attentionGrad(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { dy, q, k, v, probabilities } = inputs;
  const shape = shapeOf(q!, k!, v!, attrs as unknown as AttentionAttrs);
  const outputs = [output(backend, q!.shape), output(backend, k!.shape), output(backend, v!.shape)] as const;
  const [dq, dk, dv] = outputs.map((info) => heap(backend, info)) as [Float32Array, Float32Array, Float32Array];
  addon.attentionGrad(heap(backend, dy!), heap(backend, q!), heap(backend, k!), heap(backend, v!), heap(backend, probabilities!), dq, dk, dv, shape);
  return [...outputs];
}

export const attentionKernels: Record<string, (addon: NativeAddon, args: KernelArgs) => tf.TensorInfo[]> = {
  [ATTENTION_KERNEL]: attention,
  [ATTENTION_GRAD_KERNEL]: attentionGrad,
};
