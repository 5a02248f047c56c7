import * as tf from '@tensorflow/tfjs';
import { nativeKernelsInstalled } from '../backends/native-kernels.js';
import { RELU_GRAD_KERNEL } from '../backends/native-relu-grad.js';

/**
 * The conv2d layer, with its bias and relu fused into the convolution while training on the
 * native backend. TF.js's layer calls tf.fused.conv2d, which fuses only outside gradient mode: in
 * training a convolution was three kernels (Conv2D, Add, Relu) and two extra passes over an
 * activation-sized tensor each way. Here the layer runs the FusedConv2D kernel itself (the native
 * one adds the bias and applies relu image by image, in cache) with the gradient registered below,
 * which is TF.js's unfused gradient computed from the same kernels, so the weights come out the
 * same to the bit. Everywhere else, and for what the fused kernel does not cover, it is TF.js's
 * layer unchanged. It serialises as the stock Conv2D.
 */

interface FusedConv2DAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same';
  dataFormat: 'NHWC';
  dilations: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  activation: string;
}

tf.registerGradient({
  kernelName: tf.FusedConv2D,
  inputsToSave: ['x', 'filter'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter, y] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const { strides, pad, dataFormat, dimRoundingMode, activation } = attrs as unknown as FusedConv2DAttrs;
    if (activation !== 'relu' && activation !== 'linear') throw new Error(`FusedConv2D's gradient covers relu and linear, not ${activation}`);
    const upstream = dy as tf.Tensor4D;
    // relu's gradient from its output: y > 0 exactly where its input was, and NaN where it was NaN.
    const native = tf.getKernel(RELU_GRAD_KERNEL, tf.getBackend()) !== undefined;
    const relu = () => (native ? (tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: upstream, x: y }) as tf.Tensor4D) : tf.mul(upstream, tf.cast(tf.step(y), 'float32')));
    const dyAct = activation === 'relu' ? relu() : upstream;
    const conv = { strides, pad, dataFormat, ...(dimRoundingMode ? { dimRoundingMode } : {}) };
    return {
      x: () => tf.engine().runKernel(tf.Conv2DBackpropInput, { dy: dyAct, filter }, { ...conv, inputShape: x.shape }) as tf.Tensor,
      filter: () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy: dyAct }, { ...conv, filterShape: filter.shape }) as tf.Tensor,
      // As Add's gradient reduces it over the broadcast axes.
      bias: () => tf.sum(dyAct, [0, 1, 2]),
    };
  },
});

/** The fields of TF.js's Conv2D layer that the fused call reads. */
interface ConvLayerFields {
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
  strides: number[];
  padding: string;
  dataFormat: string;
  dilationRate: number | number[];
  activation: { getClassName(): string };
}

type Conv2DArgs = Parameters<typeof tf.layers.conv2d>[0];
type LayerCall = tf.layers.Layer['call'];

// TF.js does not export its Conv2D class; the serialization registry has it under its Keras name.
const StockConv2D = tf.serialization.SerializationMap.getMap().classNameMap['Conv2D']![0] as unknown as new (args: Conv2DArgs) => tf.layers.Layer;

export class Conv2D extends StockConv2D {
  override call(inputs: Parameters<LayerCall>[0], kwargs: Parameters<LayerCall>[1]): tf.Tensor | tf.Tensor[] {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const fields = this as unknown as ConvLayerFields;
    const activation = fields.activation.getClassName();
    const dilations = typeof fields.dilationRate === 'number' ? [fields.dilationRate] : fields.dilationRate;
    const fusable =
      nativeKernelsInstalled() &&
      x.rank === 4 &&
      fields.dataFormat === 'channelsLast' &&
      (fields.padding === 'valid' || fields.padding === 'same') &&
      (activation === 'relu' || activation === 'linear') &&
      dilations.every((d) => d === 1);
    if (!fusable) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const bias = fields.bias?.read();
      const attrs = { strides: fields.strides as [number, number], pad: fields.padding, dataFormat: 'NHWC', dilations: [1, 1], activation };
      return tf.engine().runKernel(tf.FusedConv2D, { x: tf.cast(x, 'float32'), filter: fields.kernel.read(), ...(bias ? { bias } : {}) }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    });
  }
}
