import * as tf from '@tensorflow/tfjs';
import { convParams } from './native-matmul-conv.js';
import { allFloat, heap, output, size, type ConvParams, type KernelArgs, type NativeAddon, type NativeKernel } from './native-addon.js';

/**
 * Depthwise convolution on the native backend (depthwise and separable convolution layers), forward
 * and both gradients, as direct C++ loops. tfjs-backend-wasm has only the forward kernel: without
 * these the gradients have no kernel at all there, and training a depthwise layer fails. NHWC,
 * any stride, padding, dilation and channel multiplier; other layouts and dtypes go to the stock
 * kernel (for the gradients: none, the error TF.js gives).
 */

interface DepthwiseAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dilations?: [number, number] | number | null;
  dimRoundingMode?: 'floor' | 'round' | 'ceil' | null;
  dataFormat?: 'NHWC' | 'NCHW' | null;
}

/** The addon's parameters from TF.js's own shape arithmetic, so padding and output sizes are the stock kernels'. */
function depthwiseParams(xShape: number[], filterShape: number[], attrs: tf.NamedAttrMap | undefined): ConvParams | null {
  const { strides, pad, dilations, dimRoundingMode, dataFormat } = attrs as unknown as DepthwiseAttrs;
  // tfjs-layers passes null for what it leaves unset.
  if ((dataFormat ?? 'NHWC') !== 'NHWC' || xShape.length !== 4 || filterShape.length !== 4 || xShape[3] !== filterShape[2]) return null;
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], strides, dilations ?? 1, pad, dimRoundingMode ?? undefined, true, 'channelsLast');
  if (size(info.outShape) === 0 || size(xShape) === 0 || size(filterShape) === 0) return null;
  return convParams(info);
}

function depthwiseConv2d(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const { x, filter } = inputs;
  const params = allFloat(x, filter) ? depthwiseParams(x!.shape, filter!.shape, attrs) : null;
  if (!params) return null;
  const out = output(backend, [params.batch, params.outH, params.outW, params.outC]);
  addon.depthwiseConv2d(heap(backend, x!), heap(backend, filter!), heap(backend, out), params);
  return out;
}

function depthwiseConv2dBackpropInput(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const { dy, filter } = inputs;
  const inputShape = attrs?.inputShape as number[];
  const params = allFloat(dy, filter) ? depthwiseParams(inputShape, filter!.shape, attrs) : null;
  if (!params || size(dy!.shape) !== params.batch * params.outH * params.outW * params.outC) return null;
  const out = output(backend, inputShape);
  addon.depthwiseConv2dBackpropInput(heap(backend, dy!), heap(backend, filter!), heap(backend, out), params);
  return out;
}

function depthwiseConv2dBackpropFilter(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const { x, dy } = inputs;
  const filterShape = attrs?.filterShape as number[];
  const params = allFloat(x, dy) ? depthwiseParams(x!.shape, filterShape, attrs) : null;
  if (!params || size(dy!.shape) !== params.batch * params.outH * params.outW * params.outC) return null;
  const out = output(backend, filterShape);
  addon.depthwiseConv2dBackpropFilter(heap(backend, x!), heap(backend, dy!), heap(backend, out), params);
  return out;
}

export const depthwiseKernels: Record<string, NativeKernel> = {
  DepthwiseConv2dNative: depthwiseConv2d,
  DepthwiseConv2dNativeBackpropInput: depthwiseConv2dBackpropInput,
  DepthwiseConv2dNativeBackpropFilter: depthwiseConv2dBackpropFilter,
};
