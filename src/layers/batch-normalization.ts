import { z } from 'zod';
import { layerObject } from './fields.js';
import type { LayerDefinition } from './layer-definition.js';

export const batchNormalizationLayerSchema = layerObject('batchNormalization', {
  momentum: z
    .number()
    .min(0)
    .lt(1)
    .default(0.99)
    .describe("running ← momentum · running + (1 − momentum) · batch (Keras's momentum; PyTorch's is 1 − this). The variance enters unbiased, · m/(m − 1)"),
  epsilon: z.number().positive().max(1).default(0.001),
  center: z.boolean().default(true).describe('Learn β (the shift); false fixes it at 0'),
  scale: z.boolean().default(true).describe('Learn γ (the scale); false fixes it at 1. center and scale both false is PyTorch\'s affine=False'),
}).meta({
  id: 'BatchNormalizationLayer',
  description:
    'Ioffe & Szegedy 2015: batch statistics in training, running mean/variance at inference, per channel (the last axis); the running variance is fed the unbiased batch variance (m/(m − 1), m the values per channel in the batch) as in Alg. 2 and PyTorch',
});
export type BatchNormalizationLayerSpec = z.infer<typeof batchNormalizationLayerSchema>;

export const batchNormalization: LayerDefinition<BatchNormalizationLayerSpec> = {
  schema: batchNormalizationLayerSchema,
  outputShape: (_layer, [input]) => input!,
  weights: (_layer, [input]) => Object.fromEntries(['gamma', 'beta', 'moving_mean', 'moving_variance'].map((weight) => [weight, [input!.at(-1)!]])),
  build: (layer, { kit, name, inputShape }) =>
    new kit.BatchNormalization({ name, ...(inputShape ? { inputShape } : {}), momentum: layer.momentum, epsilon: layer.epsilon, center: layer.center, scale: layer.scale }),
};
