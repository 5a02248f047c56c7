import { z } from 'zod';
import { activationSchema, biasInitializer, kernelInitializer, kernelRegularizer, layerObject, maxNorm, padding, windowSize } from './fields.js';
import { kernelLayerArgs } from './kernel-args.js';
import { pair, type LayerDefinition } from './layer-definition.js';
import { windowedShape } from './window.js';

export const conv2dLayerSchema = layerObject('conv2d', {
  filters: z.int().min(1).max(4096),
  kernelSize: windowSize.default(3),
  strides: windowSize.default(1),
  padding,
  activation: activationSchema.default('linear'),
  useBias: z.boolean().default(true),
  kernelRegularizer,
  maxNorm,
  kernelInitializer,
  biasInitializer,
}).meta({ id: 'Conv2dLayer', description: 'Input [height, width, channels] → [h′, w′, filters]' });
export type Conv2dLayerSpec = z.infer<typeof conv2dLayerSchema>;

export const conv2d: LayerDefinition<Conv2dLayerSpec> = {
  schema: conv2dLayerSchema,
  outputShape: (layer, [input]) => windowedShape('conv2d', input!, layer, layer.filters),
  penalized: ['kernel'],
  weights: (layer, [input]) => ({ kernel: [...pair(layer.kernelSize), input!.at(-1)!, layer.filters], ...(layer.useBias ? { bias: [layer.filters] } : {}) }),
  build: (layer, context) =>
    new context.kit.Conv2D({
      name: context.name,
      inputShape: context.inputShape,
      ...kernelLayerArgs(layer, context),
      filters: layer.filters,
      kernelSize: layer.kernelSize,
      strides: layer.strides,
      padding: layer.padding,
    }),
};
