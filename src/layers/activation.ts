import type { z } from 'zod';
import { activationSchema, layerObject } from './fields.js';
import type { LayerDefinition } from './layer-definition.js';

export const activationLayerSchema = layerObject('activation', { activation: activationSchema }).meta({ id: 'ActivationLayer' });
export type ActivationLayerSpec = z.infer<typeof activationLayerSchema>;

export const activation: LayerDefinition<ActivationLayerSpec> = {
  schema: activationLayerSchema,
  outputShape: (_layer, [input]) => input!,
  build: (layer, { tf, name, inputShape }) => tf.layers.activation({ name, inputShape, activation: layer.activation }),
};
