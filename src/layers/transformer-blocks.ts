import { z } from 'zod';
import { layerObject } from './fields.js';
import { ATTENTION_KERNELS, attentionWeights } from './attention-weights.js';
import { describeShape, type BuildContext, type LayerDefinition, type Shape } from './layer-definition.js';

/** The transformer encoder and decoder blocks: conveniences over attention, layer norm and a feed-forward network. */

const blockFields = {
  numHeads: z.int().min(1).max(64).describe('Heads of each attention; must divide the model width'),
  ffDim: z.int().min(1).max(65_536).describe('Hidden width of the feed-forward network'),
  activation: z.enum(['relu', 'gelu']).default('relu').describe('Of the feed-forward network (gelu: the exact erf form)'),
  dropout: z.number().min(0).lt(1).default(0).describe("One rate for PyTorch's dropout sites: attention probabilities, each residual branch, the feed-forward's hidden layer"),
  normFirst: z.boolean().default(false).describe('Pre-LN (norm before each sublayer); post-LN, PyTorch\'s default, when false'),
  epsilon: z.number().positive().max(1).default(1e-5),
};

export const transformerEncoderLayerSchema = layerObject('transformerEncoder', {
  ...blockFields,
  causal: z.boolean().default(false).describe('Position i attends to positions ≤ i only'),
}).meta({
  id: 'TransformerEncoderLayer',
  description: 'Self-attention and a feed-forward network, each in a residual branch with layer norm: torch.nn.TransformerEncoderLayer (batch_first). [T, d] → [T, d]',
});
export const transformerDecoderLayerSchema = layerObject('transformerDecoder', blockFields).meta({
  id: 'TransformerDecoderLayer',
  description:
    'Causal self-attention, cross-attention to the encoder\'s output, and a feed-forward network: torch.nn.TransformerDecoderLayer (batch_first) with a causal target mask. ' +
    'inputs: [target, memory] (the target sequence [T, d], then the encoder\'s output [S, d′]) → [T, d]',
});
type EncoderSpec = z.infer<typeof transformerEncoderLayerSchema>;
type DecoderSpec = z.infer<typeof transformerDecoderLayerSchema>;

function modelWidth(layer: EncoderSpec | DecoderSpec, shape: Shape, what: string): string | undefined {
  if (shape.length !== 2) return `${layer.type} needs ${what} of shape [steps, features], not ${describeShape(shape)}`;
  if (shape[1]! % layer.numHeads !== 0) return `${layer.numHeads} heads must divide ${what}'s ${shape[1]} features`;
  return undefined;
}

function norm(prefix: string, width: number): Record<string, Shape> {
  return { [`${prefix}/gamma`]: [width], [`${prefix}/beta`]: [width] };
}

function blockWeights(layer: EncoderSpec | DecoderSpec, target: Shape, memory: Shape | undefined): Record<string, Shape> {
  const d = target[1]!;
  const heads = layer.numHeads;
  const head = d / heads;
  const attention = (prefix: string, source: number) => attentionWeights(`${prefix}/`, { heads, keyDim: head, valueDim: head, query: d, key: source, value: source, output: d }, true);
  return {
    ...attention('self_attention', d),
    ...norm('self_attention_norm', d),
    ...(memory ? { ...attention('cross_attention', memory[1]!), ...norm('cross_attention_norm', d) } : {}),
    'feedforward_intermediate/kernel': [d, layer.ffDim],
    'feedforward_intermediate/bias': [layer.ffDim],
    'feedforward_output/kernel': [layer.ffDim, d],
    'feedforward_output/bias': [d],
    ...norm('feedforward_norm', d),
  };
}

const blockArgs = (layer: EncoderSpec | DecoderSpec, { tf, name, inputShape, seeds, clock }: BuildContext) => ({
  name,
  ...(inputShape ? { inputShape } : {}),
  numHeads: layer.numHeads,
  ffDim: layer.ffDim,
  activation: layer.activation,
  dropout: layer.dropout,
  normFirst: layer.normFirst,
  epsilon: layer.epsilon,
  kernelInitializer: tf.initializers.glorotUniform({ seed: seeds.weight }),
  biasInitializer: tf.initializers.zeros(),
  seed: seeds.dropout,
  clock,
});

const blockKernels = [...ATTENTION_KERNELS, 'feedforward_intermediate/kernel', 'feedforward_output/kernel'];

export const transformerEncoder: LayerDefinition<EncoderSpec> = {
  schema: transformerEncoderLayerSchema,
  penalized: blockKernels,
  outputShape: (layer, [input]) => modelWidth(layer, input!, 'its input') ?? input!,
  weights: (layer, [input]) => blockWeights(layer, input!, undefined),
  build: (layer, context) => new context.kit.TransformerEncoderBlock({ ...blockArgs(layer, context), causal: layer.causal }),
};

export const transformerDecoder: LayerDefinition<DecoderSpec> = {
  schema: transformerDecoderLayerSchema,
  arity: { min: 2, max: 2 },
  penalized: blockKernels,
  outputShape(layer, [target, memory]) {
    const problem = modelWidth(layer, target!, 'the target (its first input)');
    if (problem) return problem;
    if (memory!.length !== 2) return `transformerDecoder's second input is the encoder's output [steps, features], not ${describeShape(memory!)}`;
    return target!;
  },
  weights: (layer, [target, memory]) => blockWeights(layer, target!, memory!),
  build: (layer, context) => new context.kit.TransformerDecoderBlock(blockArgs(layer, context)),
};
