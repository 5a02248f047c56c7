import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';

/**
 * The `native` backend: the wasm backend with its matrix products and convolutions replaced by
 * OpenBLAS, and its max-pooling gradient, leading-axis sums and the optimizers' update by C++
 * loops, through the N-API addon in native/ (built by `npm install` where Debian's libopenblas-dev
 * is installed). The addon works on views of the wasm heap, so no tensor is copied. A case a
 * kernel does not cover (dtype, broadcast, layout, activation) goes to the stock wasm kernel.
 */

export interface NativeAddon {
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    batch: number,
    strideA: number,
    strideB: number,
    strideC: number,
  ): void;
  conv2d(x: Float32Array, filter: Float32Array, out: Float32Array, params: ConvParams): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, params: ConvParams): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, params: ConvParams): void;
  maxPoolGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, params: ConvParams): void;
  sumLeading(x: Float32Array, out: Float32Array, outer: number, inner: number): void;
  optimizerStep(rule: string, inputs: Float32Array[], outputs: Float32Array[], params: Record<string, number>): void;
  setThreads(threads: number): void;
  getThreads(): number;
}

interface ConvParams {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  fH: number;
  fW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padLeft: number;
  dilH: number;
  dilW: number;
}

/** The parts of the wasm backend the kernels use. */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };
type Kernel = (args: KernelArgs) => tf.TensorInfo | null;

const require = createRequire(import.meta.url);
const defaultAddonPath = new URL('../../../native/build/Release/trainyard_native.node', import.meta.url).pathname;

/** The addon, or why it cannot be had. TRAINYARD_NATIVE_ADDON points elsewhere (tests of its absence). */
export function loadNativeAddon(): NativeAddon | Error {
  const path = process.env.TRAINYARD_NATIVE_ADDON ?? defaultAddonPath;
  try {
    return require(path) as NativeAddon;
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' ? 'it was not built (npm install builds it where libopenblas-dev is installed)' : (error as Error).message.split('\n')[0];
    return new Error(`the native kernels are unavailable: ${reason}`);
  }
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const allFloat = (...infos: (tf.TensorInfo | undefined)[]) => infos.every((info) => !info || info.dtype === 'float32');

/** The fused kernels' epilogue, in place: + bias (one per output channel, or one for all), then relu. */
function addBiasAndActivation(values: Float32Array, bias: Float32Array | null, channels: number, relu: boolean): void {
  if (!bias && !relu) return;
  const broadcast = bias?.length === 1;
  for (let i = 0; i < values.length; i++) {
    let value = values[i]! + (bias ? bias[broadcast ? 0 : i % channels]! : 0);
    if (relu && value < 0) value = 0;
    values[i] = value;
  }
}

function batchMatMul(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs, fused?: { bias?: tf.TensorInfo; activation: string }): tf.TensorInfo | null {
  const a = inputs.a!;
  const b = inputs.b!;
  const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
  if (!allFloat(a, b, fused?.bias) || a.shape.length < 2 || a.shape.length !== b.shape.length) return null;
  const [ra, ca] = a.shape.slice(-2) as [number, number];
  const [rb, cb] = b.shape.slice(-2) as [number, number];
  const m = transposeA ? ca : ra;
  const k = transposeA ? ra : ca;
  const n = transposeB ? rb : cb;
  if ((transposeB ? cb : rb) !== k) return null;
  const batchShapeA = a.shape.slice(0, -2);
  const batchShapeB = b.shape.slice(0, -2);
  const [batchA, batchB] = [size(batchShapeA), size(batchShapeB)];
  // Equal batch shapes, or one side a single matrix broadcast over the other's batch.
  const sameBatch = batchShapeA.every((d, i) => d === batchShapeB[i]);
  if (!sameBatch && batchA !== 1 && batchB !== 1) return null;
  const outShape = [...(batchA >= batchB ? batchShapeA : batchShapeB), m, n];
  const batch = Math.max(batchA, batchB);
  if (m * n * k * batch === 0) return null;
  if (fused && !(fused.activation === 'linear' || fused.activation === 'relu')) return null;
  const bias = fused?.bias;
  if (bias && !(size(bias.shape) === n && bias.shape.at(-1) === n) && size(bias.shape) !== 1) return null;

  const wasm = backend as WasmHeapBackend;
  // Output first: allocating can grow the heap, which detaches views taken before.
  const out = wasm.makeOutput(outShape, 'float32');
  const c = wasm.typedArrayFromHeap(out);
  addon.gemm(transposeA, transposeB, m, n, k, wasm.typedArrayFromHeap(a), wasm.typedArrayFromHeap(b), c, batch, batchA === 1 ? 0 : m * k, batchB === 1 ? 0 : k * n, m * n);
  addBiasAndActivation(c, bias ? wasm.typedArrayFromHeap(bias) : null, n, fused?.activation === 'relu');
  return out;
}

function convParams(info: tf.backend_util.Conv2DInfo): ConvParams | null {
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
  const wasm = backend as WasmHeapBackend;
  const out = wasm.makeOutput(info.outShape, 'float32');
  const values = wasm.typedArrayFromHeap(out);
  addon.conv2d(wasm.typedArrayFromHeap(x), wasm.typedArrayFromHeap(filter), values, params);
  addBiasAndActivation(values, bias ? wasm.typedArrayFromHeap(bias) : null, params.outC, fused?.activation === 'relu');
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
  const wasm = backend as WasmHeapBackend;
  const out = wasm.makeOutput(inputShape, 'float32');
  addon.conv2dBackpropInput(wasm.typedArrayFromHeap(dy), wasm.typedArrayFromHeap(filter), wasm.typedArrayFromHeap(out), params);
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
  const wasm = backend as WasmHeapBackend;
  const out = wasm.makeOutput(filterShape, 'float32');
  addon.conv2dBackpropFilter(wasm.typedArrayFromHeap(x), wasm.typedArrayFromHeap(dy), wasm.typedArrayFromHeap(out), params);
  return out;
}

function maxPoolGrad(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const dy = inputs.dy!;
  const x = inputs.input!;
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as { filterSize: [number, number] | number; strides: [number, number] | number; pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  if (!allFloat(dy, x) || x.shape.length !== 4 || size(x.shape) === 0) return null;
  const info = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode, 'channelsLast');
  const params = convParams({ ...info, outChannels: info.inChannels } as tf.backend_util.Conv2DInfo);
  if (!params) return null;
  const wasm = backend as WasmHeapBackend;
  const out = wasm.makeOutput(x.shape, 'float32');
  addon.maxPoolGrad(wasm.typedArrayFromHeap(dy), wasm.typedArrayFromHeap(x), wasm.typedArrayFromHeap(out), params);
  return out;
}

/** Sum over leading axes only (a bias gradient, a batch mean); other reductions go to wasm's kernel. */
function sum(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const x = inputs.x!;
  const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims: boolean };
  if (!allFloat(x) || x.shape.length === 0) return null;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
  if (!leading || size(x.shape) === 0) return null;
  const kept = x.shape.slice(axes.length);
  const wasm = backend as WasmHeapBackend;
  const out = wasm.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
  addon.sumLeading(wasm.typedArrayFromHeap(x), wasm.typedArrayFromHeap(out), size(x.shape.slice(0, axes.length)), size(kept));
  return out;
}

const fusedOf = ({ inputs, attrs }: KernelArgs) => {
  const { activation } = attrs as unknown as { activation: string };
  // PReLU weights would need their own pass: left to the stock kernel.
  if (inputs.preluActivationWeights) return { activation: 'unsupported' };
  return { ...(inputs.bias ? { bias: inputs.bias } : {}), activation };
};

const kernels: Record<string, (addon: NativeAddon, args: KernelArgs) => tf.TensorInfo | null> = {
  BatchMatMul: (addon, args) => batchMatMul(addon, args),
  _FusedMatMul: (addon, args) => batchMatMul(addon, args, fusedOf(args)),
  Conv2D: (addon, args) => conv2d(addon, args),
  FusedConv2D: (addon, args) => conv2d(addon, args, fusedOf(args)),
  Conv2DBackpropInput: conv2dBackpropInput,
  Conv2DBackpropFilter: conv2dBackpropFilter,
  MaxPoolGrad: maxPoolGrad,
  Sum: sum,
};

export const nativeKernelNames = [...Object.keys(kernels), 'the optimizer update'];

/**
 * One optimizer update of one variable: inputs θ, g and the rule's slots (slot0, slot1); outputs
 * θ' and the new slots. Only registered with the native kernels; src/engine/optimizers/native-step.ts
 * uses it when it is there and the TF.js ops otherwise.
 */
export const OPTIMIZER_STEP_KERNEL = 'TrainyardOptimizerStep';

function optimizerStep(addon: NativeAddon, { inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { rule, ...params } = attrs as unknown as { rule: string } & Record<string, number>;
  const wasm = backend as WasmHeapBackend;
  const ordered = [inputs.theta!, inputs.g!, ...(inputs.slot0 ? [inputs.slot0] : []), ...(inputs.slot1 ? [inputs.slot1] : [])];
  const outputs = [inputs.theta!, ...ordered.slice(2)].map((input) => wasm.makeOutput(input.shape, 'float32'));
  addon.optimizerStep(
    rule,
    ordered.map((input) => wasm.typedArrayFromHeap(input)),
    outputs.map((output) => wasm.typedArrayFromHeap(output)),
    params,
  );
  return outputs;
}

/** The wasm kernels the native ones replaced, to fall back on and to restore. */
const stock = new Map<string, tf.KernelConfig>();

/** Puts the native kernels in place of the wasm ones; calling it again only changes the thread count. */
export function installNativeKernels(addon: NativeAddon, blasThreads: number): void {
  addon.setThreads(blasThreads);
  if (stock.size > 0) return;
  tf.registerKernel({ kernelName: OPTIMIZER_STEP_KERNEL, backendName: 'wasm', kernelFunc: ((args: KernelArgs) => optimizerStep(addon, args)) as unknown as tf.KernelFunc });
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
  if (tf.getKernel(OPTIMIZER_STEP_KERNEL, 'wasm')) tf.unregisterKernel(OPTIMIZER_STEP_KERNEL, 'wasm');
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
