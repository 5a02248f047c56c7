import { z } from 'zod';
import { layerObject } from './fields.js';
import type { LayerDefinition } from './layer-definition.js';

export const layerNormalizationLayerSchema = layerObject('layerNormalization', { epsilon: z.number().positive().max(1).default(0.001) }).meta({
  id: 'LayerNormalizationLayer',
  description: 'Ba et al. 2016: statistics over the units of each sample; independent of batch size',
});
export type LayerNormalizationLayerSpec = z.infer<typeof layerNormalizationLayerSchema>;

export const layerNormalization: LayerDefinition<LayerNormalizationLayerSpec> = {
  schema: layerNormalizationLayerSchema,
  outputShape: (_layer, [input]) => input!,
  weights: (_layer, [input]) => ({ gamma: [input!.at(-1)!], beta: [input!.at(-1)!] }),
  build: (layer, { kit, name, inputShape }) => new kit.LayerNormalization({ name, ...(inputShape ? { inputShape } : {}), epsilon: layer.epsilon }),
};
