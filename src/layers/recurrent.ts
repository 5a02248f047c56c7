import { z } from 'zod';
import { initializerSchema } from '../spec/initializer-spec.js';
import { activationSchema, kernelInitializer, kernelRegularizer, layerObject } from './fields.js';
import { describeShape, type LayerDefinition } from './layer-definition.js';

/** simpleRnn, lstm and gru: one module, as they share their fields, shape rule, weights and layer class. */

const recurrentFields = {
  units: z.int().min(1).max(4096),
  returnSequences: z.boolean().default(false).describe('Output every step, [T, units], instead of the last, [units]'),
  dropout: z.number().min(0).lt(1).default(0).describe('Rate of the dropout that dropoutMode places (inverted; off at inference)'),
  recurrentDropout: z.number().min(0).lt(1).optional().describe('variational only: the rate on the recurrent state h_{t−1}; defaults to dropout'),
  dropoutMode: z
    .enum(['standard', 'variational', 'cellUpdate'])
    .default('standard')
    .describe(
      'standard: inputs only, a fresh mask each step, the recurrent path untouched (Zaremba et al. 2014); ' +
        'variational: one mask for all steps on the inputs and one on the state (Gal 2015); ' +
        'cellUpdate: the LSTM/GRU candidate update only (Semeniuta et al. 2016)',
    ),
  layerNorm: z.boolean().default(false).describe('Layer normalization inside the cell (Ba et al. 2016): of W·x_t and U·h_{t−1} separately, and of the LSTM cell'),
  kernelRegularizer,
  kernelInitializer,
  recurrentInitializer: initializerSchema.optional().describe('Default orthogonal (as Keras); a simpleRnn with irnn gets the identity'),
  biasInitializer: initializerSchema.optional().describe('Default zeros (an LSTM\'s forget-gate bias starts at 1 unless this is set)'),
};

export const simpleRnnLayerSchema = layerObject('simpleRnn', {
  ...recurrentFields,
  activation: activationSchema.optional().describe('tanh when absent; an IRNN uses relu (leave it out or say relu)'),
  irnn: z
    .boolean()
    .default(false)
    .describe('IRNN (Le et al. 2015): ReLU, recurrent kernel = identity, bias 0; activation (but relu), recurrentInitializer and biasInitializer cannot be set with it'),
}).meta({ id: 'SimpleRnnLayer', description: 'h_t = act(W x_t + U h_{t−1} + b); input [T, features]' });

export const lstmLayerSchema = layerObject('lstm', {
  ...recurrentFields,
  activation: activationSchema.default('tanh').describe('Of the candidate and the output (gates are sigmoid)'),
  recurrentBatchNorm: z
    .strictObject({
      maxSteps: z.int().min(1).max(100_000).optional().describe('T: steps with their own statistics; later steps reuse step T\'s. Defaults to the input\'s length'),
      momentum: z
        .number()
        .min(0)
        .lt(1)
        .default(0.9)
        .describe('running ← momentum · running + (1 − momentum) · batch, per step. Each step\'s statistics see one update per batch, so 0.99 lags far behind on short runs'),
      epsilon: z.number().positive().max(1).default(0.001),
      gammaInit: z.number().min(0).max(10).default(0.1).describe('γ of every normalization starts here (0.1 in the paper)'),
    })
    .optional()
    .meta({
      id: 'RecurrentBatchNorm',
      description: 'Cooijmans et al. 2016: BN of W·x_t and of U·h_{t−1} separately and of the cell, with statistics per time step',
    }),
}).meta({ id: 'LstmLayer', description: 'Gates i, f, o; candidate g; c_t = f⊙c_{t−1} + i⊙g; h_t = o⊙tanh(c_t); forget bias starts at 1' });

export const gruLayerSchema = layerObject('gru', { ...recurrentFields, activation: activationSchema.default('tanh').describe('Of the candidate') }).meta({
  id: 'GruLayer',
  description: 'z, r gates; h̃ = act(W x_t + U (r⊙h_{t−1}) + b); h_t = z⊙h_{t−1} + (1 − z)⊙h̃',
});

type RecurrentLayerSpec = z.infer<typeof simpleRnnLayerSchema> | z.infer<typeof lstmLayerSchema> | z.infer<typeof gruLayerSchema>;

const GATES = { simpleRnn: 1, lstm: 4, gru: 3 } as const;

function recurrentWeights(layer: RecurrentLayerSpec, input: number[]): Record<string, number[]> {
  const units = layer.units;
  const width = GATES[layer.type] * units;
  const weights: Record<string, number[]> = { kernel: [input.at(-1)!, width], recurrent_kernel: [units, width], bias: [width] };
  const batchNorm = layer.type === 'lstm' ? layer.recurrentBatchNorm : undefined;
  if (batchNorm) {
    const steps = batchNorm.maxSteps ?? input[0]!;
    Object.assign(weights, { bn_x_gamma: [width], bn_h_gamma: [width], bn_c_gamma: [units], bn_c_beta: [units] });
    for (const [part, size] of [['x', width], ['h', width], ['c', units]] as const) {
      weights[`bn_${part}_moving_mean`] = [steps, size];
      weights[`bn_${part}_moving_variance`] = [steps, size];
    }
  }
  if (layer.layerNorm) {
    for (const part of ['x', 'h']) Object.assign(weights, { [`ln_${part}_gamma`]: [width], [`ln_${part}_beta`]: [width] });
    if (layer.type === 'lstm') Object.assign(weights, { ln_c_gamma: [units], ln_c_beta: [units] });
  }
  return weights;
}

function recurrent<L extends RecurrentLayerSpec>(schema: z.ZodType<L, unknown>): LayerDefinition<L> {
  return {
    schema,
    outputShape(layer, [input]) {
      if (input!.length !== 2) return `${layer.type} needs a sequence input of shape [steps, features], not ${describeShape(input!)}: add a reshape layer before it`;
      return layer.returnSequences ? [input![0]!, layer.units] : [layer.units];
    },
    // The input kernel only: the recurrent one is left to the cell's own regularisation.
    penalized: ['kernel'],
    weights: (layer, [input]) => recurrentWeights(layer, input!),
    build(layer, { tf, kit, name, inputShape, inputShapes, seeds, clock }) {
      const irnn = layer.type === 'simpleRnn' && layer.irnn;
      const batchNorm = layer.type === 'lstm' ? layer.recurrentBatchNorm : undefined;
      return new kit.RecurrentLayer({
        name,
        inputShape,
        cell: layer.type,
        units: layer.units,
        activation: irnn ? 'relu' : (layer.activation ?? 'tanh'),
        returnSequences: layer.returnSequences,
        dropout: layer.dropout,
        recurrentDropout: layer.dropoutMode === 'variational' ? (layer.recurrentDropout ?? layer.dropout) : 0,
        dropoutMode: layer.dropoutMode,
        recurrentBatchNorm: batchNorm ? { ...batchNorm, maxSteps: batchNorm.maxSteps ?? inputShapes[0]![0]! } : null,
        layerNorm: layer.layerNorm,
        kernelInitializer: tf.initializers.glorotUniform({ seed: seeds.weight }),
        // IRNN (Le et al. 2015): identity recurrence; otherwise Keras's orthogonal default.
        recurrentInitializer: irnn ? tf.initializers.identity({ gain: 1 }) : tf.initializers.orthogonal({ gain: 1, seed: seeds.extraWeight }),
        biasInitializer: tf.initializers.zeros(),
        seed: seeds.dropout,
        clock,
      });
    },
  };
}

export const simpleRnn = recurrent(simpleRnnLayerSchema);
export const lstm = recurrent(lstmLayerSchema);
export const gru = recurrent(gruLayerSchema);
