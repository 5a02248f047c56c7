import * as tf from '@tensorflow/tfjs';
import { FUSED_DENSE_ACTIVATIONS } from '../layers/fused-kernel-names.js';
import { allFloat, heap, output, size, type ConvParams, type KernelArgs, type NativeAddon, type NativeKernel } from './native-addon.js';

/**
 * Matrix products, convolutions and pooling on the native backend: sgemm from OpenBLAS, the
 * convolutions as im2col + sgemm, pooling windows in C++.
 */

/** The activations the fused matrix product applies natively, numbered as the addon's DenseActivation. */
export const DENSE_ACTIVATIONS: ReadonlyMap<string, number> = new Map(FUSED_DENSE_ACTIVATIONS.map((name, i) => [name, i]));

/**
 * Where each output matrix's operands start, for batch shapes that broadcast both ways ([2, 1] and
 * [1, 3]): the stock wasm kernel flattens each side's batch to one axis and gets these wrong.
 */
function broadcastOffsets(batchShape: number[], outBatch: number[], matrix: number): number[] {
  const shape = [...Array<number>(outBatch.length - batchShape.length).fill(1), ...batchShape];
  const strides = shape.map((_, i) => size(shape.slice(i + 1)) * matrix);
  return Array.from({ length: size(outBatch) }, (_, index) => {
    let offset = 0;
    for (let axis = outBatch.length - 1, rest = index; axis >= 0; axis--) {
      const coordinate = rest % outBatch[axis]!;
      rest = Math.floor(rest / outBatch[axis]!);
      if (shape[axis] !== 1) offset += coordinate * strides[axis]!;
    }
    return offset;
  });
}

/**
 * Products of any rank ≥ 2 on either side, batch axes broadcast as numpy does (attention's
 * [B·heads, T, dk] × [B·heads, dk, T], [B, T, d] × [d, e]). Where b is one matrix for the whole
 * batch and a is not transposed, the batch folds into a's rows: one sgemm of B·T rows instead of B
 * small ones.
 */
function batchMatMul(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs, fused?: { bias?: tf.TensorInfo; activation: string }): tf.TensorInfo | null {
  const a = inputs.a!;
  const b = inputs.b!;
  const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
  if (!allFloat(a, b, fused?.bias) || a.shape.length < 2 || b.shape.length < 2) return null;
  const [ra, ca] = a.shape.slice(-2) as [number, number];
  const [rb, cb] = b.shape.slice(-2) as [number, number];
  const m = transposeA ? ca : ra;
  const k = transposeA ? ra : ca;
  const n = transposeB ? rb : cb;
  if ((transposeB ? cb : rb) !== k) return null;
  const batchShapeA = a.shape.slice(0, -2);
  const batchShapeB = b.shape.slice(0, -2);
  let outBatch: number[];
  try {
    outBatch = tf.backend_util.assertAndGetBroadcastShape(batchShapeA, batchShapeB);
  } catch {
    return null; // the stock kernel says why
  }
  const [batchA, batchB, batch] = [size(batchShapeA), size(batchShapeB), size(outBatch)];
  if (m * n * k * batch === 0) return null;
  if (fused && !DENSE_ACTIVATIONS.has(fused.activation)) return null;
  const bias = fused?.bias;
  if (bias && !(size(bias.shape) === n && bias.shape.at(-1) === n) && size(bias.shape) !== 1) return null;

  // Output first: allocating can grow the heap, which detaches views taken before.
  const out = output(backend, [...outBatch, m, n]);
  const c = heap(backend, out);
  const [av, bv] = [heap(backend, a), heap(backend, b)];
  if (batchB === 1 && !transposeA) {
    addon.gemm(false, transposeB, m * batch, n, k, av, bv, c, 1, 0, 0, 0);
  } else if ((batchA === batch || batchA === 1) && (batchB === batch || batchB === 1)) {
    addon.gemm(transposeA, transposeB, m, n, k, av, bv, c, batch, batchA === 1 ? 0 : m * k, batchB === 1 ? 0 : k * n, m * n);
  } else {
    const [offsetsA, offsetsB] = [broadcastOffsets(batchShapeA, outBatch, m * k), broadcastOffsets(batchShapeB, outBatch, k * n)];
    for (let i = 0; i < batch; i++) {
      addon.gemm(transposeA, transposeB, m, n, k, av.subarray(offsetsA[i]!), bv.subarray(offsetsB[i]!), c.subarray(i * m * n), 1, 0, 0, 0);
    }
  }
  // The epilogue in C++ (a JavaScript loop before): + bias, then relu or sigmoid as their own kernels compute them.
  const activation = DENSE_ACTIVATIONS.get(fused?.activation ?? 'linear')!;
  if (bias || activation !== 0) addon.biasActivation(c, bias ? heap(backend, bias) : null, size(outBatch) * m, n, activation);
  return out;
}

/** The addon's convolution parameters from TF.js's own shape arithmetic (NHWC only). */
export function convParams(info: tf.backend_util.Conv2DInfo): ConvParams | null {
  if (info.dataFormat !== 'channelsLast') return null;
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    fH: info.filterHeight,
    fW: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    dilH: info.dilationHeight,
    dilW: info.dilationWidth,
  };
}

interface ConvAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function conv2d(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs, fused?: { bias?: tf.TensorInfo; activation: string }): tf.TensorInfo | null {
  const x = inputs.x!;
  const filter = inputs.filter!;
  const { strides, pad, dataFormat, dilations = 1, dimRoundingMode } = attrs as unknown as ConvAttrs;
  if (!allFloat(x, filter, fused?.bias) || dataFormat !== 'NHWC') return null;
  if (fused && !(fused.activation === 'linear' || fused.activation === 'relu')) return null;
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, dilations, pad, dimRoundingMode, false, 'channelsLast');
  const params = convParams(info);
  if (!params || size(info.outShape) === 0 || size(x.shape) === 0) return null;
  const bias = fused?.bias;
  if (bias && size(bias.shape) !== params.outC && size(bias.shape) !== 1) return null;
  const out = output(backend, info.outShape);
  addon.conv2d(heap(backend, x), heap(backend, filter), heap(backend, out), params, bias ? heap(backend, bias) : null, fused?.activation === 'relu');
  return out;
}

function conv2dBackpropInput(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const dy = inputs.dy!;
  const filter = inputs.filter!;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
  if (!allFloat(dy, filter) || dataFormat !== 'NHWC') return null;
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const params = convParams(info);
  if (!params || size(inputShape) === 0 || size(dy.shape) === 0) return null;
  const out = output(backend, inputShape);
  addon.conv2dBackpropInput(heap(backend, dy), heap(backend, filter), heap(backend, out), params);
  return out;
}

function conv2dBackpropFilter(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const x = inputs.x!;
  const dy = inputs.dy!;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
  if (!allFloat(x, dy) || dataFormat !== 'NHWC') return null;
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const params = convParams(info);
  if (!params || size(x.shape) === 0 || size(dy.shape) === 0) return null;
  const out = output(backend, filterShape);
  addon.conv2dBackpropFilter(heap(backend, x), heap(backend, dy), heap(backend, out), params);
  return out;
}

function poolParams(x: tf.TensorInfo, attrs: tf.NamedAttrMap | undefined): ConvParams | null {
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as { filterSize: [number, number] | number; strides: [number, number] | number; pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  if (x.shape.length !== 4 || size(x.shape) === 0) return null;
  const info = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode, 'channelsLast');
  if (size(info.outShape) === 0) return null;
  return convParams({ ...info, outChannels: info.inChannels } as tf.backend_util.Conv2DInfo);
}

function pool(isMax: boolean): NativeKernel {
  return (addon, { inputs, backend, attrs }) => {
    const x = inputs.x!;
    const params = allFloat(x) ? poolParams(x, attrs) : null;
    if (!params) return null;
    const out = output(backend, [params.batch, params.outH, params.outW, params.outC]);
    addon.pool(isMax, heap(backend, x), heap(backend, out), params);
    return out;
  };
}

/** The pooling gradients: dx has the input's shape; max pooling also reads the input, to find each window's maximum. */
function poolGrad(isMax: boolean): NativeKernel {
  return (addon, { inputs, backend, attrs }) => {
    const dy = inputs.dy!;
    const x = inputs.input!;
    const params = allFloat(dy, x) ? poolParams(x, attrs) : null;
    if (!params) return null;
    const out = output(backend, x.shape);
    if (isMax) addon.maxPoolGrad(heap(backend, dy), heap(backend, x), heap(backend, out), params);
    else addon.avgPoolGrad(heap(backend, dy), heap(backend, out), params);
    return out;
  };
}

const fusedOf = ({ inputs, attrs }: KernelArgs) => {
  const { activation } = attrs as unknown as { activation: string };
  // PReLU weights would need their own pass: left to the stock kernel.
  if (inputs.preluActivationWeights) return { activation: 'unsupported' };
  return { ...(inputs.bias ? { bias: inputs.bias } : {}), activation };
};

export const matMulConvKernels: Record<string, NativeKernel> = {
  BatchMatMul: (addon, args) => batchMatMul(addon, args),
  _FusedMatMul: (addon, args) => batchMatMul(addon, args, fusedOf(args)),
  Conv2D: (addon, args) => conv2d(addon, args),
  FusedConv2D: (addon, args) => conv2d(addon, args, fusedOf(args)),
  Conv2DBackpropInput: conv2dBackpropInput,
  Conv2DBackpropFilter: conv2dBackpropFilter,
  MaxPool: pool(true),
  AvgPool: pool(false),
  MaxPoolGrad: poolGrad(true),
  AvgPoolGrad: poolGrad(false),
};
