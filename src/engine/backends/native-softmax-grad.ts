import * as tf from '@tensorflow/tfjs';
import { heap, output, size, type KernelArgs, type NativeAddon } from './native-addon.js';

/**
 * Softmax's gradient over the last axis, dy·y − Σ(dy·y)·y, as one kernel on the native backend:
 * TF.js computes it as four (Mul, Sum, Mul, Sub) with three softmax-sized intermediates, and an
 * attention layer's softmax is [B·heads, T, T]. Softmax's registered gradient is replaced by one
 * that runs this kernel where the backend has it and TF.js's own ops, unchanged, everywhere else.
 */

export const SOFTMAX_GRAD_KERNEL = 'TrainyardSoftmaxGrad';

function softmaxGrad(addon: NativeAddon, { inputs, backend }: KernelArgs): tf.TensorInfo {
  const { dy, y } = inputs;
  const classes = y!.shape.at(-1)!;
  const out = output(backend, y!.shape);
  addon.softmaxGrad(heap(backend, dy!), heap(backend, y!), heap(backend, out), size(y!.shape) / classes, classes);
  return out;
}

export const softmaxGradKernels: Record<string, (addon: NativeAddon, args: KernelArgs) => tf.TensorInfo> = { [SOFTMAX_GRAD_KERNEL]: softmaxGrad };

tf.registerGradient({
  kernelName: tf.Softmax,
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [y] = saved as [tf.Tensor];
    const dyTensor = dy as tf.Tensor;
    const dim = (attrs as unknown as { dim: number }).dim;
    const lastAxis = dim === -1 || dim === y.rank - 1;
    const native = lastAxis && y.size > 0 && tf.getKernel(SOFTMAX_GRAD_KERNEL, tf.getBackend()) !== undefined && dyTensor.dtype === 'float32' && y.dtype === 'float32';
    if (native) return { logits: () => tf.engine().runKernel(SOFTMAX_GRAD_KERNEL, { dy: dyTensor, y }) as tf.Tensor };
    // tfjs-core's own gradient of Softmax.
    const dyTimesY = tf.mul(dyTensor, y);
    return { logits: () => tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [dim], true), y)) };
  },
});
