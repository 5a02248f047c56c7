import * as tf from '@tensorflow/tfjs';

/**
 * Filter gradients for 2-D convolutions on the tfjs wasm backend.
 *
 * tfjs-backend-wasm 4.x ships no `Conv2DBackpropFilter` kernel, so any
 * training step through a conv2d layer fails there. Two paths reach that
 * kernel and both must be covered:
 *  - the registered `Conv2D` gradient (plain `tf.conv2d`, and conv layers
 *    whose activation is not linear), and
 *  - the `customGrad` inside `tf.fused.conv2d`, which tfjs-layers uses for
 *    conv layers with a linear activation and which never consults the
 *    gradient registry, so overriding the `Conv2D` gradient alone would not
 *    fix `tf.layers.conv2d` with its default activation.
 * Registering a real wasm kernel covers both. It is composed from wasm
 * kernels (Transpose, Conv2D, Slice) so the heavy work stays in XNNPACK; that
 * measured about 20x faster than routing through the native
 * `Conv3DBackpropFilterV2` kernel with a depth of 1.
 *
 * The `Conv2D` gradient is additionally wrapped, on wasm only, because the
 * stock gradient (on every backend) rejects dilations > 1 and the
 * Conv2DBackpropFilter/Input kernels carry no dilation attribute.
 */

type Conv2DPadding = tf.Conv2DAttrs['pad'];

/** The one backend method the composite kernel needs beyond its sub-kernels. */
interface DisposingBackend {
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

const WASM = 'wasm';

// Identifies gradFuncs created here, so repeated registration never wraps our
// own wrapper (which would only add a useless layer of delegation).
const ownGradFuncs = new WeakSet<tf.GradFunc>();

function isDisposingBackend(backend: unknown): backend is DisposingBackend {
  return (
    typeof backend === 'object' &&
    backend !== null &&
    typeof (backend as Partial<DisposingBackend>).disposeData === 'function'
  );
}

type Shape4D = [number, number, number, number];

function rank4Shape(t: tf.TensorInfo, name: string): Shape4D {
  // The op layer reshapes rank-3 inputs to rank 4 before dispatch, so any
  // other rank here means a caller bypassed it via runKernel.
  if (t.shape.length !== 4) {
    throw new Error(
      `Conv2DBackpropFilter (wasm) expects ${name} of rank 4, ` +
        `got shape [${t.shape.join(', ')}].`,
    );
  }
  return t.shape as Shape4D;
}

function toPair(value: number | [number, number]): [number, number] {
  return typeof value === 'number' ? [value, value] : [value[0], value[1]];
}

function explicitPadding(
  top: number,
  bottom: number,
  left: number,
  right: number,
): tf.backend_util.ExplicitPadding {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

function assertNHWC(dataFormat: string | undefined, where: string): void {
  // The transposes below hard-code channels-last axes, and the wasm Conv2D
  // kernel they rely on is channels-last only, so NCHW cannot be honoured.
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(
      `${where} on the wasm backend supports only dataFormat 'NHWC', got ` +
        `'${dataFormat}'. Transpose the input to NHWC before training on wasm.`,
    );
  }
}

/**
 * Padding needed on the far side when the filter gradient is computed as
 * conv(x^T, dy^T): enough that the output covers all `filterSize` taps even if
 * the forward pass read past the padded input (possible with 'ceil'
 * dimRoundingMode), never negative because XNNPACK rejects negative padding;
 * a surplus is sliced away afterwards.
 */
function farPadding(
  inSize: number,
  outSize: number,
  filterSize: number,
  stride: number,
  dilation: number,
  nearPad: number,
): number {
  return Math.max(0, (filterSize - 1) * dilation + (outSize - 1) * stride + 1 - inSize - nearPad);
}

interface FilterGradGeometry {
  strides: [number, number];
  dilations: [number, number];
  padTop: number;
  padLeft: number;
}

function filterGradGeometry(
  xShape: Shape4D,
  filterShape: Shape4D,
  strides: number | [number, number],
  dilations: number | [number, number],
  pad: Conv2DPadding,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
): FilterGradGeometry {
  // computeConv2DInfo is the single source of truth for how tfjs resolves
  // 'same' / numeric / explicit padding, so reuse it rather than re-derive
  // the asymmetric SAME split here.
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    strides,
    dilations,
    pad,
    dimRoundingMode,
  );
  return {
    strides: [info.strideHeight, info.strideWidth],
    dilations: [info.dilationHeight, info.dilationWidth],
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

// ---------------------------------------------------------------------------
// Kernel: Conv2DBackpropFilter for 'wasm'
// ---------------------------------------------------------------------------

function runWasmKernel(
  kernelName: string,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
  backend: DisposingBackend,
): tf.TensorInfo {
  // getKernel is typed as always returning a config but yields undefined when
  // the wasm package was never imported; surface that instead of a TypeError.
  const kernel = tf.getKernel(kernelName, WASM) as tf.KernelConfig | undefined;
  if (kernel === undefined) {
    throw new Error(
      `Conv2DBackpropFilter (wasm) needs the wasm '${kernelName}' kernel; ` +
        `import '@tensorflow/tfjs-backend-wasm' first.`,
    );
  }
  const out = kernel.kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(out)) {
    throw new Error(`wasm kernel '${kernelName}' returned multiple outputs.`);
  }
  return out;
}

/**
 * dW[kh,kw,ci,co] = sum_{n,oh,ow} x[n, oh*sh + kh*dh - pt, ow*sw + kw*dw - pl, ci]
 *                                  * dy[n, oh, ow, co]
 * which is a forward conv of x^T (ci as batch, n as channels) with dy^T as the
 * filter, where the forward stride becomes the dilation and the forward
 * dilation becomes the stride. That lets XNNPACK do the reduction.
 */
const conv2DBackpropFilterWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs;
  if (x === undefined || dy === undefined) {
    throw new Error('Conv2DBackpropFilter (wasm) requires inputs x and dy.');
  }
  if (!isDisposingBackend(backend)) {
    throw new Error('Conv2DBackpropFilter (wasm) received a backend without disposeData.');
  }
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  assertNHWC(dataFormat, 'Conv2DBackpropFilter');
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    // The wasm Conv2D kernel reinterprets its buffers as float32.
    throw new Error(
      `Conv2DBackpropFilter (wasm) requires float32 tensors, got x: ${x.dtype}, dy: ${dy.dtype}.`,
    );
  }

  const xShape = rank4Shape(x, 'x');
  const [, inH, inW, inC] = xShape;
  const [, outH, outW, outC] = rank4Shape(dy, 'dy');
  const [filterH, filterW] = filterShape;
  const geom = filterGradGeometry(xShape, filterShape, strides, 1, pad, dimRoundingMode);
  const [strideH, strideW] = geom.strides;
  const padBottom = farPadding(inH, outH, filterH, strideH, 1, geom.padTop);
  const padRight = farPadding(inW, outW, filterW, strideW, 1, geom.padLeft);

  // Every intermediate is released on all paths: the engine only tracks the
  // TensorInfo this kernel returns, so anything else would leak wasm heap.
  const intermediates: tf.TensorInfo[] = [];
  try {
    const xT = runWasmKernel('Transpose', { x }, { perm: [3, 1, 2, 0] }, backend);
    intermediates.push(xT);
    const dyT = runWasmKernel('Transpose', { x: dy }, { perm: [1, 2, 0, 3] }, backend);
    intermediates.push(dyT);

    const convAttrs: tf.Conv2DAttrs = {
      strides: [1, 1],
      pad: explicitPadding(geom.padTop, padBottom, geom.padLeft, padRight),
      dataFormat: 'NHWC',
      dilations: [strideH, strideW],
    };
    let grad = runWasmKernel(
      'Conv2D',
      { x: xT, filter: dyT },
      convAttrs as unknown as tf.NamedAttrMap,
      backend,
    );
    intermediates.push(grad);

    if (grad.shape[1] !== filterH || grad.shape[2] !== filterW) {
      grad = runWasmKernel(
        'Slice',
        { x: grad },
        { begin: [0, 0, 0, 0], size: [inC, filterH, filterW, outC] },
        backend,
      );
      intermediates.push(grad);
    }
    return runWasmKernel('Transpose', { x: grad }, { perm: [1, 2, 0, 3] }, backend);
  } finally {
    for (const t of intermediates) {
      backend.disposeData(t.dataId);
    }
  }
};

// ---------------------------------------------------------------------------
// Gradient: Conv2D with dilations > 1 on 'wasm'
// ---------------------------------------------------------------------------

function dilatedFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: Shape4D,
  geom: FilterGradGeometry,
): tf.Tensor4D {
  const [, inH, inW, inC] = x.shape;
  const [, outH, outW, outC] = dy.shape;
  const [filterH, filterW] = filterShape;
  const [strideH, strideW] = geom.strides;
  const [dilationH, dilationW] = geom.dilations;
  const padBottom = farPadding(inH, outH, filterH, strideH, dilationH, geom.padTop);
  const padRight = farPadding(inW, outW, filterW, strideW, dilationW, geom.padLeft);

  const full = tf.conv2d(
    tf.transpose(x, [3, 1, 2, 0]),
    tf.transpose(dy, [1, 2, 0, 3]),
    [dilationH, dilationW],
    explicitPadding(geom.padTop, padBottom, geom.padLeft, padRight),
    'NHWC',
    [strideH, strideW],
  );
  const cropped = tf.slice(full, [0, 0, 0, 0], [inC, filterH, filterW, outC]);
  return tf.transpose(cropped, [1, 2, 0, 3]);
}

/**
 * With dilation > 1 the forward stride is 1 (tf.conv2d enforces it), so
 * dx is a plain dilated conv of dy with the spatially flipped, in/out-swapped
 * filter. Padding that would be negative (explicit padding wider than the
 * dilated filter) cannot be expressed to XNNPACK, so it is clamped to 0 and
 * the surplus rows/cols are sliced off instead.
 */
function dilatedInputGrad(
  xShape: Shape4D,
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  geom: FilterGradGeometry,
): tf.Tensor4D {
  const [batch, inH, inW, inC] = xShape;
  const [, outH, outW] = dy.shape;
  const [filterH, filterW] = filter.shape;
  const [dilationH, dilationW] = geom.dilations;
  const padTop = (filterH - 1) * dilationH - geom.padTop;
  const padLeft = (filterW - 1) * dilationW - geom.padLeft;
  const padBottom = inH - outH + geom.padTop;
  const padRight = inW - outW + geom.padLeft;

  const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
  const full = tf.conv2d(
    dy,
    flipped,
    1,
    explicitPadding(
      Math.max(0, padTop),
      Math.max(0, padBottom),
      Math.max(0, padLeft),
      Math.max(0, padRight),
    ),
    'NHWC',
    [dilationH, dilationW],
  );
  return tf.slice(
    full,
    [0, Math.max(0, -padTop), Math.max(0, -padLeft), 0],
    [batch, inH, inW, inC],
  );
}

function isUnitPair(value: number | [number, number]): boolean {
  const [a, b] = toPair(value);
  return a === 1 && b === 1;
}

function makeConv2DGradFunc(fallback: tf.GradFunc): tf.GradFunc {
  const gradFunc: tf.GradFunc = (dy, saved, attrs) => {
    const { dilations, strides, pad, dataFormat, dimRoundingMode } =
      attrs as unknown as tf.Conv2DAttrs;
    // Undilated convs are served by the stock gradient, which now reaches the
    // wasm Conv2DBackpropFilter kernel registered above; other backends keep
    // their exact upstream behaviour.
    if (tf.getBackend() !== WASM || isUnitPair(dilations)) {
      return fallback(dy, saved, attrs);
    }
    assertNHWC(dataFormat, 'Conv2D gradient');
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const dy4D = dy as tf.Tensor4D;
    const geom = filterGradGeometry(x.shape, filter.shape, strides, dilations, pad, dimRoundingMode);
    return {
      x: () => dilatedInputGrad(x.shape, dy4D, filter, geom),
      filter: () => dilatedFilterGrad(x, dy4D, filter.shape, geom),
    };
  };
  ownGradFuncs.add(gradFunc);
  return gradFunc;
}

/**
 * Makes conv2d trainable on the wasm backend. Safe to call any number of
 * times, before or after `tf.setBackend('wasm')`; it never replaces a
 * Conv2DBackpropFilter kernel that wasm (or someone else) already provides.
 */
export function registerWasmConv2dGradient(): void {
  const existingKernel = tf.getKernel('Conv2DBackpropFilter', WASM) as
    | tf.KernelConfig
    | undefined;
  if (existingKernel === undefined) {
    tf.registerKernel({
      kernelName: 'Conv2DBackpropFilter',
      backendName: WASM,
      kernelFunc: conv2DBackpropFilterWasm,
    });
  }

  const original = tf.getGradient('Conv2D') as tf.GradConfig | undefined;
  // Without an upstream gradient there is nothing to fall back to for other
  // backends, so leave the registry alone rather than break them.
  if (original !== undefined && !ownGradFuncs.has(original.gradFunc)) {
    tf.registerGradient({
      kernelName: 'Conv2D',
      inputsToSave: ['x', 'filter'],
      gradFunc: makeConv2DGradFunc(original.gradFunc),
    });
  }
}
