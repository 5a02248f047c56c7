import { z } from 'zod';
import { layerObject } from './fields.js';
import { describeShape, type LayerDefinition } from './layer-definition.js';

export const positionalEmbeddingLayerSchema = layerObject('positionalEmbedding', {
  mode: z.enum(['sinusoidal', 'learned']).default('sinusoidal').describe('sinusoidal: fixed sin/cos vectors (Vaswani et al. 2017, §3.5); learned: a trained table'),
  maxLength: z.int().min(1).max(100_000).optional().describe('learned: rows of the table (the longest sequence); the input\'s length when absent'),
}).meta({ id: 'PositionalEmbeddingLayer', description: 'Adds a vector per position to a sequence [T, d] → [T, d], so attention can tell positions apart' });
export type PositionalEmbeddingLayerSpec = z.infer<typeof positionalEmbeddingLayerSchema>;

export const positionalEmbedding: LayerDefinition<PositionalEmbeddingLayerSpec> = {
  schema: positionalEmbeddingLayerSchema,
  outputShape(layer, [input]) {
    if (input!.length !== 2) return `positionalEmbedding needs a sequence [steps, features], not ${describeShape(input!)}`;
    if (layer.maxLength !== undefined && layer.maxLength < input![0]!) return `maxLength ${layer.maxLength} is shorter than the ${input![0]}-step input`;
    return input!;
  },
  weights: (layer, [input]): Record<string, number[]> => (layer.mode === 'learned' ? { embeddings: [layer.maxLength ?? input![0]!, input![1]!] } : {}),
  build: (layer, { tf, kit, name, inputShape, inputShapes, seeds }) =>
    new kit.PositionalEmbedding({
      name,
      ...(inputShape ? { inputShape } : {}),
      mode: layer.mode,
      maxLength: layer.maxLength ?? inputShapes[0]![0]!,
      embeddingsInitializer: tf.initializers.glorotUniform({ seed: seeds.weight }),
    }),
};
