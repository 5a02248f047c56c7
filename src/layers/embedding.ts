import { z } from 'zod';
import { layerObject } from './fields.js';
import type { LayerDefinition } from './layer-definition.js';

export const embeddingLayerSchema = layerObject('embedding', {
  inputDim: z.int().min(1).max(1_000_000).describe('Vocabulary size: token ids are 0 … inputDim − 1'),
  outputDim: z.int().min(1).max(4096),
}).meta({ id: 'EmbeddingLayer', description: 'Token ids [T] → vectors [T, outputDim]; reads the model\'s input, on a data set with token inputs' });
export type EmbeddingLayerSpec = z.infer<typeof embeddingLayerSchema>;

export const embedding: LayerDefinition<EmbeddingLayerSpec> = {
  schema: embeddingLayerSchema,
  outputShape(layer, [input], { readsModelInput }) {
    if (!readsModelInput || input!.length !== 1) return 'an embedding takes token ids [steps]: it must read the model\'s input (the first layer of a stack)';
    return [input![0]!, layer.outputDim];
  },
  weights: (layer) => ({ embeddings: [layer.inputDim, layer.outputDim] }),
  build: (layer, { tf, name, inputShape, seeds }) =>
    tf.layers.embedding({
      name,
      inputShape,
      inputDim: layer.inputDim,
      outputDim: layer.outputDim,
      embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: seeds.weight }),
    }),
};
