import { z } from 'zod';
import { layerObject, padding, windowSize } from './fields.js';
import type { LayerDefinition } from './layer-definition.js';
import { windowedShape } from './window.js';

const poolFields = { poolSize: windowSize.default(2), strides: windowSize.optional().describe('Defaults to poolSize'), padding };

export const maxPool2dLayerSchema = layerObject('maxPool2d', poolFields).meta({ id: 'MaxPool2dLayer' });
export const avgPool2dLayerSchema = layerObject('avgPool2d', poolFields).meta({ id: 'AvgPool2dLayer' });
type PoolLayerSpec = z.infer<typeof maxPool2dLayerSchema> | z.infer<typeof avgPool2dLayerSchema>;

function pooling<L extends PoolLayerSpec>(schema: z.ZodType<L, unknown>): LayerDefinition<L> {
  return {
    schema,
    outputShape: (layer, [input]) => windowedShape(layer.type, input!, { kernelSize: layer.poolSize, strides: layer.strides ?? layer.poolSize, padding: layer.padding }, input!.at(-1)!),
    build(layer, { tf, name, inputShape }) {
      const args = { name, inputShape, poolSize: layer.poolSize, strides: layer.strides ?? layer.poolSize, padding: layer.padding };
      return layer.type === 'maxPool2d' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args);
    },
  };
}

export const maxPool2d = pooling(maxPool2dLayerSchema);
export const avgPool2d = pooling(avgPool2dLayerSchema);
