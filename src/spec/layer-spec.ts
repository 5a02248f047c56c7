import { z } from 'zod';
import { initializerSchema } from './initializer-spec.js';

/** The model part of the job spec: each layer type's fields, auxiliary heads, progressive columns. */

export const activationSchema = z
  .enum(['linear', 'relu', 'relu6', 'elu', 'selu', 'sigmoid', 'tanh', 'softmax', 'softplus', 'softsign', 'swish', 'gelu'])
  .meta({ id: 'Activation' });
export type Activation = z.infer<typeof activationSchema>;

const layerName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'must start with a letter and hold only letters, digits and _ (at most 64)')
  .optional()
  .describe('Layer name; generated when absent. Used to match layers across jobs.');

const kernelInitializer = initializerSchema.optional().describe('Default glorotUniform');
const biasInitializer = initializerSchema.optional().describe('Default zeros');

const kernelRegularizer = z
  .strictObject({ l1: z.number().min(0).max(10).default(0), l2: z.number().min(0).max(10).default(0) })
  .optional()
  .describe("This layer's kernel penalty, instead of regularization.l1/l2");

const maxNorm = z
  .number()
  .positive()
  .max(1e6)
  .optional()
  .describe("c: after every optimizer step each unit's incoming weights are rescaled to an L2 norm of at most c (torch.renorm; Keras MaxNorm), instead of regularization.maxNorm");

export const denseLayerSchema = z
  .strictObject({
    type: z.literal('dense'),
    name: layerName,
    units: z.int().min(1).max(65_536),
    activation: activationSchema.default('linear'),
    useBias: z.boolean().default(true),
    kernelRegularizer,
    maxNorm,
    kernelInitializer,
    biasInitializer,
  })
  .meta({ id: 'DenseLayer' });

export const activationLayerSchema = z
  .strictObject({ type: z.literal('activation'), name: layerName, activation: activationSchema })
  .meta({ id: 'ActivationLayer' });

export const dropoutLayerSchema = z
  .strictObject({
    type: z.literal('dropout'),
    name: layerName,
    rate: z.number().min(0).lt(1).describe('Fraction of units zeroed in training (inverted dropout, off at inference)'),
    noiseShape: z
      .array(z.int().min(1))
      .min(1)
      .max(4)
      .optional()
      .describe(
        "The mask's shape for one row (Keras's noise_shape without its batch entry): 1 on an axis shares one draw along it, e.g. [1, features] drops the same features at every time step, [1, 1, channels] whole channels of an image (PyTorch Dropout1d/Dropout2d); every other entry must equal the input's size. A fresh draw per value when absent",
      ),
  })
  .meta({ id: 'DropoutLayer' });

const windowSize = z.union([z.int().min(1).max(1024), z.tuple([z.int().min(1).max(1024), z.int().min(1).max(1024)])]);
const padding = z.enum(['valid', 'same']).default('valid');

export const conv2dLayerSchema = z
  .strictObject({
    type: z.literal('conv2d'),
    name: layerName,
    filters: z.int().min(1).max(4096),
    kernelSize: windowSize.default(3),
    strides: windowSize.default(1),
    padding,
    activation: activationSchema.default('linear'),
    useBias: z.boolean().default(true),
    kernelRegularizer,
    maxNorm,
    kernelInitializer,
    biasInitializer,
  })
  .meta({ id: 'Conv2dLayer', description: 'Input [height, width, channels] → [h′, w′, filters]' });

const poolFields = {
  name: layerName,
  poolSize: windowSize.default(2),
  strides: windowSize.optional().describe('Defaults to poolSize'),
  padding,
};
export const maxPool2dLayerSchema = z.strictObject({ type: z.literal('maxPool2d'), ...poolFields }).meta({ id: 'MaxPool2dLayer' });
export const avgPool2dLayerSchema = z.strictObject({ type: z.literal('avgPool2d'), ...poolFields }).meta({ id: 'AvgPool2dLayer' });
export const flattenLayerSchema = z.strictObject({ type: z.literal('flatten'), name: layerName }).meta({ id: 'FlattenLayer' });
export const reshapeLayerSchema = z
  .strictObject({ type: z.literal('reshape'), name: layerName, targetShape: z.array(z.int().min(1)).min(1).max(4) })
  .meta({ id: 'ReshapeLayer' });

export const batchNormalizationLayerSchema = z
  .strictObject({
    type: z.literal('batchNormalization'),
    name: layerName,
    momentum: z
      .number()
      .min(0)
      .lt(1)
      .default(0.99)
      .describe("running ← momentum · running + (1 − momentum) · batch (Keras's momentum; PyTorch's is 1 − this). The variance enters unbiased, · m/(m − 1)"),
    epsilon: z.number().positive().max(1).default(0.001),
    center: z.boolean().default(true).describe('Learn β (the shift); false fixes it at 0'),
    scale: z.boolean().default(true).describe('Learn γ (the scale); false fixes it at 1. center and scale both false is PyTorch\'s affine=False'),
  })
  .meta({
    id: 'BatchNormalizationLayer',
    description:
      'Ioffe & Szegedy 2015: batch statistics in training, running mean/variance at inference, per channel (the last axis); the running variance is fed the unbiased batch variance (m/(m − 1), m the values per channel in the batch) as in Alg. 2 and PyTorch',
  });

export const layerNormalizationLayerSchema = z
  .strictObject({ type: z.literal('layerNormalization'), name: layerName, epsilon: z.number().positive().max(1).default(0.001) })
  .meta({ id: 'LayerNormalizationLayer', description: 'Ba et al. 2016: statistics over the units of each sample; independent of batch size' });

const recurrentFields = {
  name: layerName,
  units: z.int().min(1).max(4096),
  returnSequences: z.boolean().default(false).describe('Output every step, [T, units], instead of the last, [units]'),
  dropout: z.number().min(0).lt(1).default(0).describe('Rate of the dropout that dropoutMode places (inverted; off at inference)'),
  recurrentDropout: z
    .number()
    .min(0)
    .lt(1)
    .optional()
    .describe('variational only: the rate on the recurrent state h_{t−1}; defaults to dropout'),
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

export const simpleRnnLayerSchema = z
  .strictObject({
    type: z.literal('simpleRnn'),
    ...recurrentFields,
    activation: activationSchema.optional().describe('tanh when absent; an IRNN uses relu (leave it out or say relu)'),
    irnn: z
      .boolean()
      .default(false)
      .describe('IRNN (Le et al. 2015): ReLU, recurrent kernel = identity, bias 0; activation (but relu), recurrentInitializer and biasInitializer cannot be set with it'),
  })
  .meta({ id: 'SimpleRnnLayer', description: 'h_t = act(W x_t + U h_{t−1} + b); input [T, features]' });

export const lstmLayerSchema = z
  .strictObject({
    type: z.literal('lstm'),
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
  })
  .meta({ id: 'LstmLayer', description: 'Gates i, f, o; candidate g; c_t = f⊙c_{t−1} + i⊙g; h_t = o⊙tanh(c_t); forget bias starts at 1' });

export const gruLayerSchema = z
  .strictObject({ type: z.literal('gru'), ...recurrentFields, activation: activationSchema.default('tanh').describe('Of the candidate') })
  .meta({ id: 'GruLayer', description: 'z, r gates; h̃ = act(W x_t + U (r⊙h_{t−1}) + b); h_t = z⊙h_{t−1} + (1 − z)⊙h̃' });

export const embeddingLayerSchema = z
  .strictObject({
    type: z.literal('embedding'),
    name: layerName,
    inputDim: z.int().min(1).max(1_000_000).describe('Vocabulary size: token ids are 0 … inputDim − 1'),
    outputDim: z.int().min(1).max(4096),
  })
  .meta({ id: 'EmbeddingLayer', description: 'Token ids [T] → vectors [T, outputDim]; the first layer, on a data set with token inputs' });

export const layerSchema = z
  .discriminatedUnion('type', [
    simpleRnnLayerSchema,
    lstmLayerSchema,
    gruLayerSchema,
    embeddingLayerSchema,
    batchNormalizationLayerSchema,
    layerNormalizationLayerSchema,
    denseLayerSchema,
    activationLayerSchema,
    dropoutLayerSchema,
    conv2dLayerSchema,
    maxPool2dLayerSchema,
    avgPool2dLayerSchema,
    flattenLayerSchema,
    reshapeLayerSchema,
  ])
  .meta({ id: 'Layer' });
export type LayerSpec = z.infer<typeof layerSchema>;

export const auxiliaryHeadSchema = z
  .strictObject({
    after: z
      .union([z.string(), z.int().min(0)])
      .describe('The hidden layer the head reads: its name, or its index in layers'),
    weight: z.number().positive().max(100).default(0.3).describe('α: L = L_main + Σ α·L_head'),
    decayToZeroByEpoch: z
      .int()
      .min(1)
      .optional()
      .describe('α falls linearly, step by step, to 0 at the end of this epoch (and stays 0); constant when absent'),
  })
  .meta({
    id: 'AuxiliaryHead',
    description:
      'Deeply supervised nets (Lee et al. 2015): a dense output head (flattened input, the output layer\'s units and activation) after a hidden layer, ' +
      'trained with the same loss; its loss is reported as aux_<layer>_loss; heads are not part of the exported model',
  });

export const checkpointRef = z
  .union([z.enum(['best', 'last']), z.uuid()])
  .default('best')
  .describe('best (by its monitored metric; the newest when none is marked), last, or a checkpoint id');

export const progressiveSchema = z
  .strictObject({
    columns: z
      .array(
        z
          .strictObject({
            job: z.uuid().describe('A finished (or running) job whose model becomes a frozen column'),
            checkpoint: checkpointRef,
            layers: z.array(layerSchema).optional().describe('Filled in at submission from the job; do not send'),
          })
          .meta({ id: 'ProgressiveColumn' }),
      )
      .min(1)
      .max(4),
  })
  .meta({
    id: 'Progressive',
    description:
      'Progressive networks (Rusu et al. 2016): earlier jobs\' models (dense stacks) become frozen columns; each dense layer k ≥ 1 of `layers` ' +
      '(the new column) also receives a linear lateral adapter from every column\'s hidden activation k−1. The export holds all columns',
  });

export const modelSchema = z
  .strictObject({
    auxiliaryHeads: z.array(auxiliaryHeadSchema).max(16).optional(),
    progressive: progressiveSchema.optional(),
    layers: z
      .array(layerSchema)
      .min(1)
      .max(256)
      .describe(
        'A sequential stack. The last dense layer is the output: its units must equal the data set\'s classes. ' +
          'With a softmax activation its outputs are probabilities; otherwise they are treated as logits.',
      ),
  })
  .meta({ id: 'Model' });
