import type * as tf from '@tensorflow/tfjs';
import { heap, output, type KernelArgs, type NativeAddon } from './native-addon.js';
import { DENSE_GRAD_KERNEL } from '../layers/fused-kernel-names.js';
import { DENSE_ACTIVATIONS } from './native-matmul-conv.js';

/**
 * The gradient of a fused dense layer, y = act(x w + b) (`_FusedMatMul` with a bias and linear,
 * relu or sigmoid), as one kernel of the native backend: the activation's gradient from y, dx, dw
 * and db in one call. src/engine/layers/fused-matmul-gradient.ts registers it as `_FusedMatMul`'s gradient.
 */

/** Inputs dy, x [rows, inputs], w [inputs, units] and the saved output y; attributes `activation` and `inputGradient` (false: no dx). Outputs dw, db [units] and dx. */
function denseGrad(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { dy, x, w, y } = inputs;
  const [rows, inputCount] = x!.shape as [number, number];
  const units = w!.shape[1]!;
  const activation = DENSE_ACTIVATIONS.get(attrs?.activation as string);
  if (activation === undefined) throw new Error(`${DENSE_GRAD_KERNEL}: no native gradient for activation ${String(attrs?.activation)}`);
  const outputs = [output(backend, [inputCount, units]), output(backend, [units])];
  if (attrs?.inputGradient !== false) outputs.push(output(backend, [rows, inputCount]));
  const [dw, db, dx] = outputs.map((info) => heap(backend, info)) as [Float32Array, Float32Array, Float32Array | undefined];
  addon.denseGrad(heap(backend, dy!), heap(backend, x!), heap(backend, w!), heap(backend, y!), dx ?? null, dw, db, rows, inputCount, units, activation);
  return outputs;
}

export const denseKernels: Record<string, (addon: NativeAddon, args: KernelArgs) => tf.TensorInfo[]> = { [DENSE_GRAD_KERNEL]: denseGrad };
