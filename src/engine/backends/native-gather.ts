import * as tf from '@tensorflow/tfjs';
import { heapOf, size, type KernelArgs, type NativeAddon, type WasmHeapBackend } from './native-addon.js';

/**
 * GatherV2 on the native backend: the trainer's batch gather (rows of the training set picked by
 * an int32 index tensor), and an embedding's lookup. The stock wasm kernel copies element by
 * element through four-dimensional strides; this copies whole rows. Batched gathers (batchDims > 0)
 * and string tensors go to the stock kernel.
 */

const BYTES: Partial<Record<tf.DataType, number>> = { float32: 4, int32: 4, bool: 1 };

export function gatherV2(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const x = inputs.x!;
  const indices = inputs.indices!;
  const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
  const bytes = BYTES[x.dtype];
  if (!bytes || indices.dtype !== 'int32' || batchDims !== 0 || x.shape.length === 0) return null;
  const parsedAxis = tf.util.parseAxisParam(axis, x.shape)[0]!;
  const axisDim = x.shape[parsedAxis]!;
  const outShape = [...x.shape.slice(0, parsedAxis), ...indices.shape, ...x.shape.slice(parsedAxis + 1)];
  const wasm = backend as WasmHeapBackend;
  const picked = heapOf(backend, indices) as Int32Array;
  // The stock kernel's check and message, so an out-of-range row fails the same way.
  for (let i = 0; i < picked.length; i++) {
    const index = picked[i]!;
    tf.util.assert(index <= axisDim - 1 && index >= 0, () => `GatherV2: the index value ${index} is not in [0, ${axisDim - 1}]`);
  }
  const out = wasm.makeOutput(outShape, x.dtype);
  if (size(outShape) === 0 || size(x.shape) === 0) return out;
  // Views after the output exists: allocating can grow the heap and detach earlier ones.
  addon.gather(heapOf(backend, x), heapOf(backend, indices) as Int32Array, heapOf(backend, out), size(x.shape.slice(0, parsedAxis)), axisDim, size(x.shape.slice(parsedAxis + 1)) * bytes);
  return out;
}
