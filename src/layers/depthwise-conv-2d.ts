import { z } from 'zod';
import { activationSchema, biasInitializer, kernelInitializer, kernelRegularizer, layerObject, padding, windowSize } from './fields.js';
import { pair, type LayerDefinition } from './layer-definition.js';
import { windowedShape } from './window.js';

/** What the depthwise convolution and the separable one (a depthwise convolution, then a 1×1) share. */
const depthwiseFields = {
  kernelSize: windowSize.default(3),
  strides: windowSize.default(1),
  padding,
  depthMultiplier: z.int().min(1).max(64).default(1).describe('Output channels per input channel'),
  activation: activationSchema.default('linear'),
  useBias: z.boolean().default(true),
  kernelRegularizer,
  kernelInitializer: kernelInitializer.describe('Of the depthwise kernel; default glorotUniform'),
  biasInitializer,
};

export const depthwiseConv2dLayerSchema = layerObject('depthwiseConv2d', depthwiseFields).meta({ id: 'DepthwiseConv2dLayer', description: 'Each channel convolved with its own filters: [h, w, c] → [h′, w′, c·depthMultiplier] (PyTorch Conv2d with groups = c)' });

export const separableConv2dLayerSchema = layerObject('separableConv2d', {
  filters: z.int().min(1).max(4096),
  ...depthwiseFields,
  pointwiseInitializer: kernelInitializer.describe('Of the 1×1 pointwise kernel; default glorotUniform'),
}).meta({
  id: 'SeparableConv2dLayer',
  description: 'A depthwise convolution, then a 1×1 convolution to `filters` channels (Chollet 2017): [h, w, c] → [h′, w′, filters]',
});

type DepthwiseSpec = z.infer<typeof depthwiseConv2dLayerSchema>;
type SeparableSpec = z.infer<typeof separableConv2dLayerSchema>;

export const depthwiseConv2d: LayerDefinition<DepthwiseSpec> = {
  schema: depthwiseConv2dLayerSchema,
  initialized: { kernelInitializer: 'depthwise_kernel', biasInitializer: 'bias' },
  penalized: ['depthwise_kernel'],
  outputShape: (layer, [input]) => windowedShape('depthwiseConv2d', input!, layer, input!.at(-1)! * layer.depthMultiplier),
  weights(layer, [input]) {
    const channels = input!.at(-1)!;
    return { depthwise_kernel: [...pair(layer.kernelSize), channels, layer.depthMultiplier], ...(layer.useBias ? { bias: [channels * layer.depthMultiplier] } : {}) };
  },
  build: (layer, { tf, name, inputShape, seeds, activation }) =>
    tf.layers.depthwiseConv2d({
      name,
      inputShape,
      kernelSize: layer.kernelSize,
      strides: layer.strides,
      padding: layer.padding,
      depthMultiplier: layer.depthMultiplier,
      activation: activation ?? layer.activation,
      useBias: layer.useBias,
      depthwiseInitializer: tf.initializers.glorotUniform({ seed: seeds.weight }),
      biasInitializer: tf.initializers.zeros(),
    }),
};

export const separableConv2d: LayerDefinition<SeparableSpec> = {
  schema: separableConv2dLayerSchema,
  initialized: { kernelInitializer: 'depthwise_kernel', pointwiseInitializer: 'pointwise_kernel', biasInitializer: 'bias' },
  penalized: ['depthwise_kernel', 'pointwise_kernel'],
  outputShape: (layer, [input]) => windowedShape('separableConv2d', input!, layer, layer.filters),
  weights(layer, [input]) {
    const channels = input!.at(-1)!;
    return {
      depthwise_kernel: [...pair(layer.kernelSize), channels, layer.depthMultiplier],
      pointwise_kernel: [1, 1, channels * layer.depthMultiplier, layer.filters],
      ...(layer.useBias ? { bias: [layer.filters] } : {}),
    };
  },
  build: (layer, { tf, name, inputShape, seeds, activation }) =>
    tf.layers.separableConv2d({
      name,
      inputShape,
      filters: layer.filters,
      kernelSize: layer.kernelSize,
      strides: layer.strides,
      padding: layer.padding,
      depthMultiplier: layer.depthMultiplier,
      activation: activation ?? layer.activation,
      useBias: layer.useBias,
      depthwiseInitializer: tf.initializers.glorotUniform({ seed: seeds.weight }),
      pointwiseInitializer: tf.initializers.glorotUniform({ seed: seeds.extraWeight }),
      biasInitializer: tf.initializers.zeros(),
    }),
};
