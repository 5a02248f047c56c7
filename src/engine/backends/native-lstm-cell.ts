import type * as tf from '@tensorflow/tfjs';
import { heap, output, type KernelArgs, type NativeAddon } from './native-addon.js';

/**
 * The LSTM cell as two kernels of the native backend (forward, and the gradient of both inputs),
 * in place of the two dozen TF.js ops a time step otherwise takes; and the LSTM over a whole
 * sequence as two more (forward, and back through time). src/engine/layers/lstm-cell.ts is the op
 * that uses them where they are registered.
 */

export const LSTM_CELL_KERNEL = 'TrainyardLstmCell';
export const LSTM_CELL_GRAD_KERNEL = 'TrainyardLstmCellGrad';
export const LSTM_SEQUENCE_KERNEL = 'TrainyardLstmSequence';
export const LSTM_SEQUENCE_GRAD_KERNEL = 'TrainyardLstmSequenceGrad';

/** Inputs pre [B, 4U] and c [B, U]; outputs h, c' and what the gradient reads: i, f, g, o and tanh(c') [B, 5U]. */
function lstmCell(addon: NativeAddon, { inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const pre = inputs.pre!;
  const [batch, units] = inputs.c!.shape as [number, number];
  const outputs = [output(backend, [batch, units]), output(backend, [batch, units]), output(backend, [batch, 5 * units])] as const;
  addon.lstmCell(heap(backend, pre), heap(backend, inputs.c!), ...(outputs.map((info) => heap(backend, info)) as [Float32Array, Float32Array, Float32Array]), batch, units);
  return [...outputs];
}

/** Inputs dh and dc, the saved gates and c (`cPrev`); attribute `wants` picks the gradient: of pre, or of c. */
function lstmCellGrad(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { gates, cPrev, dh, dc } = inputs;
  const [batch, units] = cPrev!.shape as [number, number];
  const wants = attrs?.wants as 'pre' | 'c';
  const out = output(backend, wants === 'pre' ? [batch, 4 * units] : [batch, units]);
  const view = heap(backend, out);
  addon.lstmCellGrad(
    heap(backend, dh!),
    heap(backend, dc!),
    heap(backend, gates!),
    heap(backend, cPrev!),
    wants === 'pre' ? view : null,
    wants === 'c' ? view : null,
    batch,
    units,
  );
  return out;
}

/** Inputs pre [B, T, 4U] (x W), the bias [4U] and the recurrent kernel [U, 4U]; outputs hs, cs [B, T, U], last [B, U] and i, f, g, o, tanh(c) [B, T, 5U]. */
function lstmSequence(addon: NativeAddon, { inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const pre = inputs.pre!;
  const [batch, steps, width] = pre.shape as [number, number, number];
  const units = width / 4;
  const outputs = [output(backend, [batch, steps, units]), output(backend, [batch, steps, units]), output(backend, [batch, units]), output(backend, [batch, steps, 5 * units])] as const;
  const [hs, cs, last, gates] = outputs.map((info) => heap(backend, info)) as [Float32Array, Float32Array, Float32Array, Float32Array];
  addon.lstmSequence(heap(backend, pre), heap(backend, inputs.bias!), heap(backend, inputs.kernel!), hs, cs, last, gates, batch, steps, units);
  return [...outputs];
}

/** Inputs dHs or dLast (an absent one is zeros), the saved hs, cs and gates, and the recurrent kernel; outputs the gradients of pre, of the kernel and of the bias. */
function lstmSequenceGrad(addon: NativeAddon, { inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const { dHs, dLast, hs, cs, gates, kernel } = inputs;
  const [batch, steps, units] = hs!.shape as [number, number, number];
  const outputs = [output(backend, [batch, steps, 4 * units]), output(backend, [units, 4 * units]), output(backend, [4 * units])] as const;
  const [dPre, dKernel, dBias] = outputs.map((info) => heap(backend, info)) as [Float32Array, Float32Array, Float32Array];
  addon.lstmSequenceGrad(dHs ? heap(backend, dHs) : null, dLast ? heap(backend, dLast) : null, heap(backend, hs!), heap(backend, cs!), heap(backend, gates!), heap(backend, kernel!), dPre, dKernel, dBias, batch, steps, units);
  return [...outputs];
}

export const lstmCellKernels: Record<string, (addon: NativeAddon, args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]> = {
  [LSTM_CELL_KERNEL]: lstmCell,
  [LSTM_CELL_GRAD_KERNEL]: lstmCellGrad,
  [LSTM_SEQUENCE_KERNEL]: lstmSequence,
  [LSTM_SEQUENCE_GRAD_KERNEL]: lstmSequenceGrad,
};
