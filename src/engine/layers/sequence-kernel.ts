import * as tf from '@tensorflow/tfjs';

/** A recurrent layer's whole-sequence kernel and its gradient kernel (native-gru.ts, native-lstm-cell.ts). */
export interface SequenceKernels {
  forward: string;
  gradient: string;
  /**
   * The forward kernel's outputs in order: `hs` (every h_t) and `last` (h_T) among them. Every
   * output but `last` is saved and handed to the gradient kernel under its name, with `kernel`
   * and the upstream gradient as `dHs` or `dLast`; the gradient kernel answers dPre, dKernel, dBias.
   */
  outputs: readonly string[];
}

/**
 * pre = x W [B, T, gates × U], bias [gates × U] and recurrent kernel [U, gates × U] → every h_t
 * [B, T, U] (`returnSequences`) or the last [B, U], through one kernel each way. The gradient is a
 * custom gradient of the one output the layer uses, with what the gradient kernel needs saved
 * rather than returned: for a kernel output nothing used, the engine hands its gradient function
 * zeros made in JavaScript and copied into the wasm heap (the gates, [B, T, gates × U], every step).
 */
export function runSequenceKernel(kernels: SequenceKernels, pre: tf.Tensor, bias: tf.Tensor, kernel: tf.Tensor, returnSequences: boolean): tf.Tensor {
  const saved = kernels.outputs.filter((name) => name !== 'last');
  const sequence = tf.customGrad((p, b, k, save) => {
    const outputs = tf.engine().runKernel(kernels.forward, { pre: p as tf.Tensor, bias: b as tf.Tensor, kernel: k as tf.Tensor }) as tf.Tensor[];
    const output = (name: string) => outputs[kernels.outputs.indexOf(name)]!;
    (save as tf.GradSaveFunc)([k as tf.Tensor, ...saved.map(output)]);
    return {
      value: output(returnSequences ? 'hs' : 'last'),
      gradFunc: (dy, kept) => {
        const [savedKernel, ...savedOutputs] = kept as tf.Tensor[];
        const [dPre, dKernel, dBias] = tf.engine().runKernel(kernels.gradient, {
          ...(returnSequences ? { dHs: dy as tf.Tensor } : { dLast: dy as tf.Tensor }),
          ...Object.fromEntries(saved.map((name, i) => [name, savedOutputs[i]!])),
          kernel: savedKernel!,
        }) as tf.Tensor[];
        return [dPre!, dBias!, dKernel!];
      },
    };
  });
  return sequence(pre, bias, kernel);
}
