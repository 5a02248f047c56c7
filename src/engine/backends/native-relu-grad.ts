import * as tf from '@tensorflow/tfjs';
import { heap, output, type KernelArgs, type NativeAddon } from './native-addon.js';

/**
 * Relu's gradient, dy · step(x), as one kernel on the native backend. TF.js computes it as two
 * (Step, then Multiply, each a pass over an activation-sized tensor): for the bench CNN that was
 * 4 ms of a step. Relu's registered gradient is replaced by one that runs this kernel where the
 * backend has it and TF.js's own ops, unchanged, everywhere else.
 */

export const RELU_GRAD_KERNEL = 'TrainyardReluGrad';

function reluGrad(addon: NativeAddon, { inputs, backend }: KernelArgs): tf.TensorInfo {
  const { dy, x } = inputs;
  const out = output(backend, x!.shape);
  addon.reluGrad(heap(backend, dy!), heap(backend, x!), heap(backend, out));
  return out;
}

export const reluGradKernels: Record<string, (addon: NativeAddon, args: KernelArgs) => tf.TensorInfo> = { [RELU_GRAD_KERNEL]: reluGrad };

tf.registerGradient({
  kernelName: tf.Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    const dyTensor = dy as tf.Tensor;
    const native = tf.getKernel(RELU_GRAD_KERNEL, tf.getBackend()) !== undefined && dyTensor.dtype === 'float32' && x.dtype === 'float32';
    // tfjs-core's own gradient of Relu, where the kernel is not there.
    return { x: () => (native ? (tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: dyTensor, x }) as tf.Tensor) : tf.mul(dyTensor, tf.cast(tf.step(x), 'float32'))) };
  },
});
