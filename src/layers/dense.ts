import { z } from 'zod';
import { activationSchema, biasInitializer, kernelInitializer, kernelRegularizer, layerObject, maxNorm } from './fields.js';
import { describeShape, type LayerDefinition } from './layer-definition.js';
import { kernelLayerArgs } from './kernel-args.js';

export const denseLayerSchema = layerObject('dense', {
  units: z.int().min(1).max(65_536),
  activation: activationSchema.default('linear'),
  useBias: z.boolean().default(true),
  kernelRegularizer,
  maxNorm,
  kernelInitializer,
  biasInitializer,
}).meta({ id: 'DenseLayer' });
export type DenseLayerSpec = z.infer<typeof denseLayerSchema>;

export const dense: LayerDefinition<DenseLayerSpec> = {
  schema: denseLayerSchema,
  outputShape(layer, [input]) {
    // On a sequence [T, features] a dense layer acts on each step (as in Keras).
    if (input!.length > 2) return `a dense layer needs a flat input, not shape ${describeShape(input!)}: add a flatten layer before it`;
    return [...input!.slice(0, -1), layer.units];
  },
  penalized: ['kernel'],
  weights: (layer, [input]) => ({ kernel: [input!.at(-1)!, layer.units], ...(layer.useBias ? { bias: [layer.units] } : {}) }),
  // The engine's Dense: TF.js's, trained fused on the native backend (src/engine/layers/dense.ts).
  build: (layer, context) => new context.kit.Dense({ name: context.name, inputShape: context.inputShape, ...kernelLayerArgs(layer, context), units: layer.units }),
};
