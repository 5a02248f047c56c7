import * as tf from '@tensorflow/tfjs';
import { allFloat, heap, output, size, type KernelArgs, type NativeAddon, type NativeKernel, type WasmHeapBackend } from './native-addon.js';

/**
 * Elementwise ops, reductions, softmax, and stacking along an axis on the native backend. Each is a plain C++ loop; with
 * the matrix products native these were what was left of a step, and an activation's gradient is
 * made of them (relu's is step · dy, sigmoid's dy · y · (1 − y), tanh's dy · (1 − y²)).
 */

/** Numbered as native/src/trainyard_native.cc's `Unary`. */
const UNARY_OPS = ['Relu', 'Sigmoid', 'Tanh', 'Exp', 'Log', 'Neg', 'Square', 'Sqrt', 'Abs', 'Step', 'Rsqrt', 'Relu6'] as const;
/** Numbered as native/src/trainyard_native.cc's `Binary`. */
const BINARY_OPS = ['Add', 'Sub', 'Multiply', 'RealDiv', 'Maximum', 'Minimum', 'SquaredDifference'] as const;
/** Numbered as native/src/trainyard_native.cc's `Reduce`; the attribute that names the axes. */
const REDUCTIONS = { Sum: 'axis', Max: 'reductionIndices', Min: 'axis', Mean: 'axis' } as const;

function unary(op: number): NativeKernel {
  return (addon, { inputs, backend, attrs }) => {
    const x = inputs.x!;
    if (!allFloat(x)) return null;
    const out = output(backend, x.shape);
    addon.unary(op, heap(backend, x), heap(backend, out), (attrs?.alpha as number | undefined) ?? 0);
    return out;
  };
}

/** One operand's walk over the output [rows, inner]: how far it moves per row and along one. */
interface Walk {
  row: number;
  step: number;
}

/**
 * How a and b line up with their broadcast output as rows × inner: equal shapes, a single value on
 * either side, or one side a trailing block (a bias row) repeated over the other's leading axes.
 * Null for any other broadcast (the stock kernel has it).
 */
export function binaryLayout(aShape: number[], bShape: number[]): { outShape: number[]; rows: number; inner: number; a: Walk; b: Walk } | null {
  const outShape = tf.backend_util.assertAndGetBroadcastShape(aShape, bShape);
  const n = size(outShape);
  const [na, nb] = [size(aShape), size(bShape)];
  const whole = { row: 0, step: 1 };
  const one = { row: 0, step: 0 };
  if (na === n && nb === n) return { outShape, rows: 1, inner: n, a: whole, b: whole };
  if (na === n && nb === 1) return { outShape, rows: 1, inner: n, a: whole, b: one };
  if (nb === n && na === 1) return { outShape, rows: 1, inner: n, a: one, b: whole };
  const trailing = (shape: number[]) => {
    const dims = shape.slice(shape.findIndex((d) => d !== 1));
    return dims.length > 0 && dims.every((d, i) => d === outShape[outShape.length - dims.length + i]);
  };
  if (na === n && trailing(bShape)) return { outShape, rows: n / nb, inner: nb, a: { row: nb, step: 1 }, b: whole };
  if (nb === n && trailing(aShape)) return { outShape, rows: n / na, inner: na, a: whole, b: { row: na, step: 1 } };
  // One value per row of the last axis ([…, 1] against […, C]): a row statistic kept with keepDims,
  // as softmax's gradient, a normalization and a masked mean use it.
  const rank = outShape.length;
  const classes = outShape[rank - 1]!;
  const column = (shape: number[]) => {
    const padded = [...Array<number>(rank - shape.length).fill(1), ...shape];
    return classes > 1 && padded[rank - 1] === 1 && padded.slice(0, -1).every((d, i) => d === outShape[i]);
  };
  const full = { row: classes, step: 1 };
  const perRow = { row: 1, step: 0 };
  if (na === n && column(bShape)) return { outShape, rows: n / classes, inner: classes, a: full, b: perRow };
  if (nb === n && column(aShape)) return { outShape, rows: n / classes, inner: classes, a: perRow, b: full };
  return null;
}

function binary(op: number): NativeKernel {
  return (addon, { inputs, backend }) => {
    const a = inputs.a!;
    const b = inputs.b!;
    if (!allFloat(a, b)) return null;
    const layout = binaryLayout(a.shape, b.shape);
    if (!layout || size(layout.outShape) === 0) return null;
    const out = output(backend, layout.outShape);
    addon.binary(op, heap(backend, a), heap(backend, b), heap(backend, out), layout.rows, layout.inner, layout.a.row, layout.a.step, layout.b.row, layout.b.step);
    return out;
  };
}

/**
 * The same buffer under a second reference: TF.js tensors are immutable, and the wasm kernels copy
 * here only because they were written that way. The engine clones every tensor it saves for the
 * backward pass, so this was a copy of most activations on every step.
 */
function share({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const x = inputs.x!;
  const dtype = (attrs?.dtype as tf.DataType | undefined) ?? x.dtype;
  if (x.dtype === 'string' || dtype !== x.dtype) return null;
  (backend as WasmHeapBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Over the last axes or the leading ones (a bias gradient, a batch mean); other axes go to the stock kernel. */
function reduction(op: number, axisAttr: string): NativeKernel {
  return (addon, { inputs, backend, attrs }) => {
    const x = inputs.x!;
    const keepDims = attrs?.keepDims === true;
    if (!allFloat(x) || x.shape.length === 0 || size(x.shape) === 0) return null;
    const axes = tf.util.parseAxisParam(attrs?.[axisAttr] as number | number[], x.shape).sort((p, q) => p - q);
    if (axes.length === 0) return null;
    const rank = x.shape.length;
    const leading = axes.every((axis, i) => axis === i);
    const last = axes.every((axis, i) => axis === rank - axes.length + i);
    if (!leading && !last) return null;
    const outShape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    const reduced = size(axes.map((axis) => x.shape[axis]!));
    const out = output(backend, outShape);
    if (last) addon.reduceInner(op, heap(backend, x), heap(backend, out), size(x.shape) / reduced, reduced);
    else addon.reduceLeading(op, heap(backend, x), heap(backend, out), reduced, size(x.shape) / reduced);
    return out;
  };
}

function softmax(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const logits = inputs.logits!;
  const dim = attrs?.dim as number;
  const rank = logits.shape.length;
  if (!allFloat(logits) || rank === 0 || size(logits.shape) === 0 || (dim !== -1 && dim !== rank - 1)) return null;
  const classes = logits.shape[rank - 1]!;
  const out = output(backend, logits.shape);
  addon.softmax(heap(backend, logits), heap(backend, out), size(logits.shape) / classes, classes);
  return out;
}

/** Unstack along an axis: [outer, n, inner] → n × [outer, inner]. */
function unpack(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] | null {
  const x = inputs.value!;
  if (!allFloat(x) || x.shape.length < 2 || size(x.shape) === 0) return null;
  const axis = tf.util.parseAxisParam(attrs?.axis as number, x.shape)[0]!;
  const n = x.shape[axis]!;
  const outShape = x.shape.filter((_, i) => i !== axis);
  const outs = Array.from({ length: n }, () => output(backend, outShape));
  addon.unpack(heap(backend, x), outs.map((out) => heap(backend, out)), size(x.shape.slice(0, axis)), n, size(x.shape.slice(axis + 1)));
  return outs;
}

/** Stack along an axis: the inverse of unpack (its gradient). */
function pack(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  // Pack's inputs are a list, which the kernel sees as an object keyed 0…n−1.
  const tensors = Object.values(inputs).filter((t): t is tf.TensorInfo => t !== undefined);
  const first = tensors[0];
  if (!first || first.shape.length === 0 || !allFloat(...tensors) || size(first.shape) === 0) return null;
  if (tensors.some((t) => !tf.util.arraysEqual(t.shape, first.shape))) return null;
  const axis = tf.util.parseAxisParam(attrs?.axis as number, [...first.shape, tensors.length])[0]!;
  const outShape = [...first.shape.slice(0, axis), tensors.length, ...first.shape.slice(axis)];
  const out = output(backend, outShape);
  addon.pack(tensors.map((t) => heap(backend, t)), heap(backend, out), size(first.shape.slice(0, axis)), tensors.length, size(first.shape.slice(axis)));
  return out;
}

export const elementwiseKernels: Record<string, NativeKernel> = {
  ...Object.fromEntries(UNARY_OPS.map((name, op) => [name, unary(op)])),
  ...Object.fromEntries(BINARY_OPS.map((name, op) => [name, binary(op)])),
  ...Object.fromEntries(Object.entries(REDUCTIONS).map(([name, axisAttr], op) => [name, reduction(op, axisAttr)])),
  Softmax: softmax,
  Identity: (_addon, args) => share(args),
  Cast: (_addon, args) => share(args),
  Unpack: unpack,
  Pack: pack,
};
