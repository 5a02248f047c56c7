import * as tf from '@tensorflow/tfjs';

/**
 * UnsortedSegmentSum for the tfjs wasm backend, which ships none. It is the gradient of Gather
 * with respect to the gathered tensor, so without it an embedding layer cannot train on wasm.
 * The sum is a scatter-add over rows: memory-bound, so plain JS over the wasm heap is as fast as a
 * wasm kernel would be for the sizes an embedding gradient has.
 */

/** The parts of the wasm backend the kernel uses. */
interface WasmHeapBackend {
  readSync(dataId: tf.DataId): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array;
}

function unsortedSegmentSumWasm({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const wasm = backend as WasmHeapBackend;
  const x = inputs.x!;
  const segmentIds = inputs.segmentIds!;
  const numSegments = (attrs as unknown as tf.UnsortedSegmentSumAttrs).numSegments;
  const ids = wasm.readSync(segmentIds.dataId);
  const values = wasm.readSync(x.dataId);
  // Each segment id addresses a slab of x of this many values (the dimensions after the ids').
  const slab = x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  const out = wasm.makeOutput(outShape, x.dtype);
  const sums = wasm.typedArrayFromHeap(out);
  sums.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const segment = ids[i]!;
    // Negative or too-large ids are dropped, as in TensorFlow.
    if (segment < 0 || segment >= numSegments) continue;
    const from = i * slab;
    const to = segment * slab;
    for (let j = 0; j < slab; j++) sums[to + j]! += values[from + j]!;
  }
  return out;
}

/** Safe to call any number of times; never replaces a kernel wasm already provides. */
export function registerWasmUnsortedSegmentSum(): void {
  if (tf.getKernel('UnsortedSegmentSum', 'wasm')) return;
  tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSumWasm as tf.KernelFunc });
}
