import type { z } from 'zod';
import { layerObject } from './fields.js';
import { describeShape, type LayerDefinition } from './layer-definition.js';

/** Global average and max pooling: over time for a sequence [T, features], over height and width for an image [h, w, channels]. */

export const globalAvgPoolLayerSchema = layerObject('globalAvgPool', {}).meta({
  id: 'GlobalAvgPoolLayer',
  description: 'Mean over every position: [T, features] → [features], [h, w, channels] → [channels]',
});
export const globalMaxPoolLayerSchema = layerObject('globalMaxPool', {}).meta({
  id: 'GlobalMaxPoolLayer',
  description: 'Maximum over every position: [T, features] → [features], [h, w, channels] → [channels]',
});
type GlobalPoolSpec = z.infer<typeof globalAvgPoolLayerSchema> | z.infer<typeof globalMaxPoolLayerSchema>;

function globalPooling<L extends GlobalPoolSpec>(schema: z.ZodType<L, unknown>): LayerDefinition<L> {
  return {
    schema,
    outputShape(layer, [input]) {
      if (input!.length !== 2 && input!.length !== 3) return `${layer.type} needs a sequence [steps, features] or an image [height, width, channels], not ${describeShape(input!)}`;
      return [input!.at(-1)!];
    },
    build(layer, { tf, name, inputShape, inputShapes }) {
      const args = { name, inputShape };
      const image = inputShapes[0]!.length === 3;
      if (layer.type === 'globalAvgPool') return image ? tf.layers.globalAveragePooling2d(args) : tf.layers.globalAveragePooling1d(args);
      return image ? tf.layers.globalMaxPooling2d(args) : tf.layers.globalMaxPooling1d(args);
    },
  };
}

export const globalAvgPool = globalPooling(globalAvgPoolLayerSchema);
export const globalMaxPool = globalPooling(globalMaxPoolLayerSchema);
