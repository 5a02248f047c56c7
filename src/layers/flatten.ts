import type { z } from 'zod';
import { layerObject } from './fields.js';
import { sizeOf, type LayerDefinition } from './layer-definition.js';

export const flattenLayerSchema = layerObject('flatten', {}).meta({ id: 'FlattenLayer' });
export type FlattenLayerSpec = z.infer<typeof flattenLayerSchema>;

export const flatten: LayerDefinition<FlattenLayerSpec> = {
  schema: flattenLayerSchema,
  outputShape: (_layer, [input]) => [sizeOf(input!)],
  build: (_layer, { tf, name, inputShape }) => tf.layers.flatten({ name, inputShape }),
};
