import { z } from 'zod';
import { layerObject } from './fields.js';
import { describeShape, pair, type LayerDefinition } from './layer-definition.js';

const factor = z.int().min(1).max(64);

export const upSampling2dLayerSchema = layerObject('upSampling2d', {
  size: z.union([factor, z.tuple([factor, factor])]).default(2).describe('Rows and columns are repeated this many times: one number for both, or [rows, columns]'),
  interpolation: z.enum(['nearest', 'bilinear']).default('nearest'),
}).meta({ id: 'UpSampling2dLayer', description: '[h, w, channels] → [h·rows, w·columns, channels]' });
export type UpSampling2dLayerSpec = z.infer<typeof upSampling2dLayerSchema>;

export const upSampling2d: LayerDefinition<UpSampling2dLayerSpec> = {
  schema: upSampling2dLayerSchema,
  outputShape(layer, [input]) {
    if (input!.length !== 3) return `upSampling2d needs an input of shape [height, width, channels], not ${describeShape(input!)}`;
    const [rows, columns] = pair(layer.size);
    return [input![0]! * rows, input![1]! * columns, input![2]!];
  },
  build: (layer, { tf, name, inputShape }) => tf.layers.upSampling2d({ name, inputShape, size: pair(layer.size), interpolation: layer.interpolation }),
};
