import * as tf from '@tensorflow/tfjs';
import { heap, output, type Kernel, type KernelArgs, type NativeAddon, type NativeKernel } from './native-addon.js';
import './batch-matmul-gradient.js';
import { attentionKernels } from './native-attention.js';
import { batchNormKernels } from './native-batch-norm.js';
import { denseKernels } from './native-dense.js';
import { depthwiseKernels } from './native-depthwise.js';
import { elementwiseKernels } from './native-elementwise.js';
import { gatherV2 } from './native-gather.js';
import { gruSequenceKernels } from './native-gru.js';
import { reluGradKernels } from './native-relu-grad.js';
import { softmaxGradKernels } from './native-softmax-grad.js';
import { layerNormKernels } from './native-layer-norm.js';
import { lstmCellKernels } from './native-lstm-cell.js';
import { matMulConvKernels } from './native-matmul-conv.js';

export { loadNativeAddon, type NativeAddon } from './native-addon.js';

/**
 * The `native` backend: the wasm backend with its matrix products, convolutions, pooling,
 * elementwise ops, reductions and softmax replaced by kernels of the N-API addon in native/
 * (OpenBLAS and C++), and its gather by row copies, plus kernels of its own: the optimizers' update, the LSTM cell, the GRU over a sequence, relu's and softmax's gradients, a fused dense layer's gradient, layer normalization, batch normalization's training pass and scaled dot-product attention. The
 * addon works on views of the wasm heap, so no tensor is copied. A case a kernel does not cover
 * (dtype, broadcast, layout, activation) goes to the stock wasm kernel.
 */

const kernels: Record<string, NativeKernel> = { ...matMulConvKernels, ...depthwiseKernels, ...elementwiseKernels, GatherV2: gatherV2 };

/**
 * One optimizer update of one variable: inputs θ, g and the rule's slots (slot0, slot1); outputs
 * θ' and the new slots. Only registered with the native kernels; src/engine/optimizers/native-step.ts
 * uses it when it is there and the TF.js ops otherwise.
 */
export const OPTIMIZER_STEP_KERNEL = 'TrainyardOptimizerStep';

function optimizerStep(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { rule, ...params } = attrs as unknown as { rule: string } & Record<string, number>;
  const ordered = [inputs.theta!, inputs.g!, ...(inputs.slot0 ? [inputs.slot0] : []), ...(inputs.slot1 ? [inputs.slot1] : [])];
  const outputs = [inputs.theta!, ...ordered.slice(2)].map((input) => output(backend, input.shape));
  addon.optimizerStep(
    rule,
    ordered.map((input) => heap(backend, input)),
    outputs.map((info) => heap(backend, info)),
    params,
  );
  return outputs;
}

/** Kernels TF.js has no counterpart of: only the native backend registers them, and their callers ask first. */
const ownKernels: Record<string, (addon: NativeAddon, args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]> = { [OPTIMIZER_STEP_KERNEL]: optimizerStep, ...lstmCellKernels, ...gruSequenceKernels, ...reluGradKernels, ...layerNormKernels, ...batchNormKernels, ...attentionKernels, ...softmaxGradKernels, ...denseKernels };

/** How the backend's device string sums the kernels up. */
export const nativeKernelCount = Object.keys(kernels).length + Object.keys(ownKernels).length;

/** The wasm kernels the native ones replaced, to fall back on and to restore. */
const stock = new Map<string, tf.KernelConfig>();

/** Puts the native kernels in place of the wasm ones; calling it again only changes the thread count. */
export function installNativeKernels(addon: NativeAddon, blasThreads: number): void {
  addon.setThreads(blasThreads);
  if (stock.size > 0) return;
  for (const [name, kernel] of Object.entries(ownKernels)) {
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: ((args: KernelArgs) => kernel(addon, args)) as unknown as tf.KernelFunc });
  }
  for (const [name, kernel] of Object.entries(kernels)) {
    const original = tf.getKernel(name, 'wasm');
    if (original) {
      stock.set(name, original);
      tf.unregisterKernel(name, 'wasm');
    }
    const fallback = original?.kernelFunc as Kernel | undefined;
    tf.registerKernel({
      kernelName: name,
      backendName: 'wasm',
      kernelFunc: ((args: KernelArgs) => {
        const result = kernel(addon, args);
        if (result) return result;
        if (!fallback) throw new Error(`${name}: no stock wasm kernel to fall back on for this case`);
        return fallback(args);
      }) as tf.KernelFunc,
    });
  }
}

/** Back to the stock wasm kernels (a process that selects plain wasm after native). */
export function uninstallNativeKernels(): void {
  for (const name of Object.keys(ownKernels)) {
    if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
  }
  for (const name of Object.keys(kernels)) {
    if (!tf.getKernel(name, 'wasm')) continue;
    tf.unregisterKernel(name, 'wasm');
    const original = stock.get(name);
    if (original) tf.registerKernel(original);
  }
  stock.clear();
}

export function nativeKernelsInstalled(): boolean {
  return stock.size > 0;
}
