import { z } from 'zod';
import { layerObject } from './fields.js';
import { describeShape, sizeOf, type LayerDefinition } from './layer-definition.js';

export const reshapeLayerSchema = layerObject('reshape', { targetShape: z.array(z.int().min(1)).min(1).max(4) }).meta({ id: 'ReshapeLayer' });
export type ReshapeLayerSpec = z.infer<typeof reshapeLayerSchema>;

export const reshape: LayerDefinition<ReshapeLayerSpec> = {
  schema: reshapeLayerSchema,
  outputShape(layer, [input]) {
    if (sizeOf(layer.targetShape) !== sizeOf(input!)) {
      return `cannot reshape ${describeShape(input!)} (${sizeOf(input!)} values) to ${describeShape(layer.targetShape)} (${sizeOf(layer.targetShape)} values)`;
    }
    return [...layer.targetShape];
  },
  build: (layer, { tf, name, inputShape }) => tf.layers.reshape({ name, inputShape, targetShape: layer.targetShape }),
};
