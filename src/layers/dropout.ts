import { z } from 'zod';
import { layerObject } from './fields.js';
import type { LayerDefinition } from './layer-definition.js';

export const dropoutLayerSchema = layerObject('dropout', {
  rate: z.number().min(0).lt(1).describe('Fraction of units zeroed in training (inverted dropout, off at inference)'),
  noiseShape: z
    .array(z.int().min(1))
    .min(1)
    .max(4)
    .optional()
    .describe(
      "The mask's shape for one row (Keras's noise_shape without its batch entry): 1 on an axis shares one draw along it, e.g. [1, features] drops the same features at every time step, [1, 1, channels] whole channels of an image (PyTorch Dropout1d/Dropout2d); every other entry must equal the input's size. A fresh draw per value when absent",
    ),
}).meta({ id: 'DropoutLayer' });
export type DropoutLayerSpec = z.infer<typeof dropoutLayerSchema>;

export const dropout: LayerDefinition<DropoutLayerSpec> = {
  schema: dropoutLayerSchema,
  outputShape: (_layer, [input]) => input!,
  build: (layer, { kit, name, inputShape, seeds, clock }) =>
    new kit.SeededDropout({ name, ...(inputShape ? { inputShape } : {}), rate: layer.rate, seed: seeds.dropout, clock, ...(layer.noiseShape ? { noiseShape: layer.noiseShape } : {}) }),
};
