import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';

/**
 * The N-API addon in native/ (built by `npm install` where Debian's libopenblas-dev is installed)
 * and what its kernels share: they work in place on views of the wasm backend's heap.
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
  /** With a bias and/or relu: the fused convolution's epilogue, applied image by image. */
  conv2d(x: Float32Array, filter: Float32Array, out: Float32Array, params: ConvParams, bias?: Float32Array | null, relu?: boolean): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, params: ConvParams): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, params: ConvParams): void;
  maxPoolGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, params: ConvParams): void;
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number): void;
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, rows: number, inner: number, aRow: number, aStep: number, bRow: number, bStep: number): void;
  reduceInner(op: number, x: Float32Array, out: Float32Array, outer: number, inner: number): void;
  reduceLeading(op: number, x: Float32Array, out: Float32Array, outer: number, inner: number): void;
  softmax(x: Float32Array, out: Float32Array, rows: number, classes: number): void;
  pool(isMax: boolean, x: Float32Array, out: Float32Array, params: ConvParams): void;
  avgPoolGrad(dy: Float32Array, dx: Float32Array, params: ConvParams): void;
  unpack(x: Float32Array, outs: Float32Array[], outer: number, n: number, inner: number): void;
  pack(ins: Float32Array[], out: Float32Array, outer: number, n: number, inner: number): void;
  lstmCell(pre: Float32Array, cPrev: Float32Array, h: Float32Array, c: Float32Array, gates: Float32Array, batch: number, units: number): void;
  lstmCellGrad(
    dh: Float32Array,
    dc: Float32Array,
    gates: Float32Array,
    cPrev: Float32Array,
    dPre: Float32Array | null,
    dcPrev: Float32Array | null,
    batch: number,
    units: number,
  ): void;
  /** pre is x W; the bias is added inside. */
  gruSequence(pre: Float32Array, bias: Float32Array, kernel: Float32Array, hs: Float32Array, last: Float32Array, gates: Float32Array, batch: number, steps: number, units: number): void;
  /** dHs or dLast null: zeros. */
  gruSequenceGrad(
    dHs: Float32Array | null,
    dLast: Float32Array | null,
    hs: Float32Array,
    gates: Float32Array,
    kernel: Float32Array,
    dPre: Float32Array,
    dKernel: Float32Array,
    dBias: Float32Array,
    batch: number,
    steps: number,
    units: number,
  ): void;
  /** pre is x W; the bias is added inside. */
  lstmSequence(
    pre: Float32Array,
    bias: Float32Array,
    kernel: Float32Array,
    hs: Float32Array,
    cs: Float32Array,
    last: Float32Array,
    gates: Float32Array,
    batch: number,
    steps: number,
    units: number,
  ): void;
  /** dHs or dLast null: zeros. */
  lstmSequenceGrad(
    dHs: Float32Array | null,
    dLast: Float32Array | null,
    hs: Float32Array,
    cs: Float32Array,
    gates: Float32Array,
    kernel: Float32Array,
    dPre: Float32Array,
    dKernel: Float32Array,
    dBias: Float32Array,
    batch: number,
    steps: number,
    units: number,
  ): void;
  reluGrad(dy: Float32Array, x: Float32Array, out: Float32Array): void;
  /** In place on values [rows, units]: + bias (one per unit, or one for all), then the activation (DENSE_ACTIVATIONS). */
  biasActivation(values: Float32Array, bias: Float32Array | null, rows: number, units: number, activation: number): void;
  /** The gradient of y = act(x w + b), x [rows, inputs], w [inputs, units]: dx (unless null), dw and db in one call. */
  denseGrad(
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    y: Float32Array,
    dx: Float32Array | null,
    dw: Float32Array,
    db: Float32Array,
    rows: number,
    inputs: number,
    units: number,
    activation: number,
  ): void;
  gather(x: HeapArray, indices: Int32Array, out: HeapArray, outer: number, axisDim: number, innerBytes: number): void;
  /** NHWC; filter [fH, fW, inC, multiplier]; params.outC = inC · multiplier. */
  depthwiseConv2d(x: Float32Array, filter: Float32Array, out: Float32Array, params: ConvParams): void;
  depthwiseConv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, params: ConvParams): void;
  depthwiseConv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, params: ConvParams): void;
  /** Over the last axis of x [rows, cols]: y, and each row's mean and 1/√(variance + ε) for the gradient. */
  layerNorm(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, rstd: Float32Array, rows: number, cols: number, epsilon: number): void;
  layerNormGrad: NormalizationGrad;
  softmaxGrad(dy: Float32Array, y: Float32Array, dx: Float32Array, rows: number, classes: number): void;
  /** Over the leading axes of x [rows, channels]: y, and the batch mean, biased variance and 1/√(variance + ε) per channel. */
  batchNorm(
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    rstd: Float32Array,
    rows: number,
    channels: number,
    epsilon: number,
  ): void;
  /** Per head of the projections q [B, Tq, H·dk], k and v [B, Tk, H·dk | H·dv]: out [B, Tq, H·dv], and the probabilities [B, H, Tq, Tk] for the gradient. */
  attention(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, probabilities: Float32Array, shape: AttentionShape): void;
  attentionGrad(
    dy: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    probabilities: Float32Array,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    shape: AttentionShape,
  ): void;
  batchNormGrad: NormalizationGrad;
  optimizerStep(rule: string, inputs: Float32Array[], outputs: Float32Array[], params: Record<string, number>): void;
  setThreads(threads: number): void;
  getThreads(): number;
}

/** A normalization's gradient over x [rows, cols] from the forward pass's mean and rstd (per row for layer norm, per column for batch norm): dx, dγ and dβ. */
export type NormalizationGrad = (
  dy: Float32Array,
  x: Float32Array,
  gamma: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  dx: Float32Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
  rows: number,
  cols: number,
) => void;

export interface AttentionShape {
  batch: number;
  heads: number;
  tq: number;
  tk: number;
  dk: number;
  dv: number;
  /** What the query is multiplied by: 1/√dk. */
  scale: number;
  causal: boolean;
}

export interface ConvParams {
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
export interface WasmHeapBackend {
  incRef(dataId: tf.DataId): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /** A Float32Array for float32, Int32Array for int32, Uint8Array for bool. */
  typedArrayFromHeap(info: tf.TensorInfo): HeapArray;
}

export type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };
export type Kernel = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[] | null;

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

export const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
export const allFloat = (...infos: (tf.TensorInfo | undefined)[]) => infos.every((info) => !info || info.dtype === 'float32');

/** A native kernel: its output, or null for a case it does not cover (the stock kernel runs). */
export type NativeKernel = (addon: NativeAddon, args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[] | null;

/** Float32 views of the inputs, taken after the outputs are allocated (allocating can grow the heap and detach older views). */
export function heap(backend: unknown, info: tf.TensorInfo): Float32Array {
  return (backend as WasmHeapBackend).typedArrayFromHeap(info) as Float32Array;
}

/** A tensor's data on the wasm heap as its own element type (what typedArrayFromHeap returns for each dtype). */
export type HeapArray = Float32Array | Int32Array | Uint8Array;

export function heapOf(backend: unknown, info: tf.TensorInfo): HeapArray {
  return (backend as WasmHeapBackend).typedArrayFromHeap(info);
}

export function output(backend: unknown, shape: number[]): tf.TensorInfo {
  return (backend as WasmHeapBackend).makeOutput(shape, 'float32');
}
