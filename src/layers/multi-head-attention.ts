import { z } from 'zod';
import { layerObject } from './fields.js';
import { ATTENTION_KERNELS, attentionWeights } from './attention-weights.js';
import { describeShape, type LayerDefinition } from './layer-definition.js';

const width = z.int().min(1).max(4096);

export const multiHeadAttentionLayerSchema = layerObject('multiHeadAttention', {
  numHeads: z.int().min(1).max(64),
  keyDim: width.describe('Width of each head\'s queries and keys'),
  valueDim: width.optional().describe('Width of each head\'s values; keyDim when absent'),
  outputDim: width.optional().describe("Output features; the query's when absent"),
  dropout: z.number().min(0).lt(1).default(0).describe('Dropout on the attention probabilities (seeded per step; off at inference)'),
  useBias: z.boolean().default(true),
  causal: z.boolean().default(false).describe('Position i attends to positions ≤ i only (a decoder\'s self-attention)'),
}).meta({
  id: 'MultiHeadAttentionLayer',
  description:
    'Scaled dot-product attention with several heads (Vaswani et al. 2017), equal to torch.nn.MultiheadAttention. One input: self-attention over a sequence [T, d]. ' +
    'Two inputs [query, value] or three [query, key, value]: cross-attention (the key is the value when absent). Output [T_query, outputDim]',
});
export type MultiHeadAttentionLayerSpec = z.infer<typeof multiHeadAttentionLayerSchema>;

/** The query, key and value of apply(x), apply([query, value]) or apply([query, key, value]). */
const roles = (inputs: Shape[]) => ({ query: inputs[0]!, key: inputs[inputs.length === 3 ? 1 : inputs.length - 1]!, value: inputs[inputs.length - 1]! });
type Shape = number[];

export const multiHeadAttention: LayerDefinition<MultiHeadAttentionLayerSpec> = {
  schema: multiHeadAttentionLayerSchema,
  arity: { min: 1, max: 3 },
  penalized: ATTENTION_KERNELS,
  outputShape(layer, inputs) {
    const bad = inputs.findIndex((shape) => shape.length !== 2);
    if (bad >= 0) return `multiHeadAttention needs sequences [steps, features]; input ${bad} is ${describeShape(inputs[bad]!)}`;
    const { query, key, value } = roles(inputs);
    if (key[0] !== value[0]) return `the key has ${key[0]} steps and the value ${value[0]}: they must be equally long`;
    if (layer.causal && query[0]! > key[0]!) return `causal attention needs a key at least as long as the query (${query[0]} steps), not ${key[0]}`;
    return [query[0]!, layer.outputDim ?? query[1]!];
  },
  weights(layer, inputs) {
    const { query, key, value } = roles(inputs);
    const shape = { heads: layer.numHeads, keyDim: layer.keyDim, valueDim: layer.valueDim ?? layer.keyDim, query: query[1]!, key: key[1]!, value: value[1]!, output: layer.outputDim ?? query[1]! };
    return attentionWeights('', shape, layer.useBias);
  },
  build: (layer, { tf, kit, name, inputShape, seeds, clock }) =>
    new kit.MultiHeadAttention({
      name,
      ...(inputShape ? { inputShape } : {}),
      numHeads: layer.numHeads,
      keyDim: layer.keyDim,
      valueDim: layer.valueDim ?? null,
      outputDim: layer.outputDim ?? null,
      dropout: layer.dropout,
      useBias: layer.useBias,
      causal: layer.causal,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seeds.weight }),
      biasInitializer: tf.initializers.zeros(),
      seed: seeds.dropout,
      clock,
    }),
};
