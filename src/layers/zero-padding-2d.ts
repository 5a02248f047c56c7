import { z } from 'zod';
import { layerObject } from './fields.js';
import { describeShape, pair, type LayerDefinition } from './layer-definition.js';

const amount = z.int().min(0).max(256);

export const zeroPadding2dLayerSchema = layerObject('zeroPadding2d', {
  padding: z
    .union([amount, z.tuple([amount, amount])])
    .default(1)
    .describe('Zero rows added above and below, and columns left and right: one number for both, or [rows, columns]'),
}).meta({ id: 'ZeroPadding2dLayer', description: '[h, w, channels] → [h + 2·rows, w + 2·columns, channels]' });
export type ZeroPadding2dLayerSpec = z.infer<typeof zeroPadding2dLayerSchema>;

export const zeroPadding2d: LayerDefinition<ZeroPadding2dLayerSpec> = {
  schema: zeroPadding2dLayerSchema,
  outputShape(layer, [input]) {
    if (input!.length !== 3) return `zeroPadding2d needs an input of shape [height, width, channels], not ${describeShape(input!)}`;
    const [rows, columns] = pair(layer.padding);
    return [input![0]! + 2 * rows, input![1]! + 2 * columns, input![2]!];
  },
  build: (layer, { tf, name, inputShape }) => tf.layers.zeroPadding2d({ name, inputShape, padding: pair(layer.padding) }),
};
