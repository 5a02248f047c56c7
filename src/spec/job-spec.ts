import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { builtInDatasetNames, builtInDatasets } from '../engine/datasets/catalog.js';
import {
  defaultLearningRates,
  optimizerConfigSchema,
  optimizerRefSchema,
  resolveOptimizer,
  type OptimizerConfig,
} from './optimizer-spec.js';
import { distributedProblems, distributedSchema } from './distributed-spec.js';
import { adviceCodes } from './advice/codes.js';
import { initializerSchema } from './initializer-spec.js';
import { lossSchema, resolvedLossSchema, resolveLoss } from './loss-spec.js';
import { modelProblems } from './model-checks.js';
import { initProblems, progressiveProblems } from './transfer-plan.js';
import { learningRateSchema, linearScalingSchema, resolveSchedule, scheduleProblems, type LearningRate } from './schedule-spec.js';

export { optimizerConfigSchema, type OptimizerConfig } from './optimizer-spec.js';

/**
 * The job spec: the one contract the API validates, the worker runs, the OpenAPI document shows
 * and clients are generated from. Every object is strict, so a misspelt field is an error
 * rather than a silently ignored option.
 */

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

const checkpointRef = z
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

export const builtInDatasetRefSchema = z
  .strictObject({
    name: z.enum(builtInDatasetNames).describe('A built-in real data set (GET /v1/datasets lists them)'),
    limit: z.int().min(2).optional().describe('Use only the first `limit` rows after the seeded shuffle'),
    shape: z.enum(['vector', 'image']).default('vector').describe('mnist only: 784-vectors, or 28×28×1 images for convolutions'),
    classes: z
      .array(z.int().min(0).max(9))
      .min(2)
      .max(10)
      .optional()
      .describe('Only these classes, relabelled 0 … k−1 in the order given (e.g. digits [5, 6, 7, 8, 9] for a transfer task)'),
    fixedTestSet: z
      .boolean()
      .default(false)
      .describe(
        'mnist only: hold out the canonical test set, the same 2 000 rows for every job and seed, ' +
          'scored once at the end as test_loss/test_accuracy; testSplit must be 0 and limit applies to the other 8 000',
      ),
  })
  .meta({ id: 'BuiltInDatasetRef' });

const rows = z.int().min(4).max(1_000_000).default(1000).describe('How many rows to generate');
const noise = z.number().min(0).max(10).default(0.1).describe('Standard deviation of the Gaussian noise added to each coordinate');
const dataSeed = z.int().min(0).max(2 ** 31 - 1).default(0).describe('Seed of the generator (independent of the job seed, so jobs can share data)');

const xorDatasetRefSchema = z
  .strictObject({ name: z.literal('xor'), rows, noise, seed: dataSeed })
  .meta({ id: 'XorDatasetRef', description: 'Uniform points in [−1, 1]², class 1 where x·y > 0; 2 features, 2 classes' });

const spiralsDatasetRefSchema = z
  .strictObject({ name: z.literal('spirals'), rows, arms: z.int().min(2).max(10).default(2).describe('Spirals, one class each'), noise, seed: dataSeed })
  .meta({ id: 'SpiralsDatasetRef', description: 'Interleaved two-turn spirals; 2 features, `arms` classes' });

const blobsDatasetRefSchema = z
  .strictObject({
    name: z.literal('blobs'),
    rows,
    classes: z.int().min(2).max(100).default(3),
    features: z.int().min(1).max(1000).default(2),
    spread: z.number().positive().max(100).default(1).describe('Standard deviation around each centre'),
    seed: dataSeed,
  })
  .meta({ id: 'BlobsDatasetRef', description: 'Gaussian blobs around centres uniform in [−10, 10]^features' });

const uploadedDatasetRefSchema = z
  .strictObject({
    name: z.literal('upload'),
    id: z.uuid().describe('The id POST /v1/datasets answered with'),
    limit: z.int().min(2).optional().describe('Use only the first `limit` rows after the seeded shuffle'),
  })
  .meta({ id: 'UploadedDatasetRef', description: 'A data set uploaded with POST /v1/datasets' });

const sequenceLength = (fallback: number) => z.int().min(2).max(10_000).default(fallback);

const regressionDatasetRefSchema = z
  .strictObject({
    name: z.literal('regression'),
    rows,
    coefficients: z.array(z.number().min(-1e6).max(1e6)).min(1).max(1000).default([2, -3, 0.5]).describe('w: one per feature'),
    intercept: z.number().min(-1e6).max(1e6).default(1).describe('b'),
    noise,
    seed: dataSeed,
  })
  .meta({ id: 'RegressionDatasetRef', description: 'x ~ N(0, 1) per feature, y = x·w + b + N(0, noise²): known coefficients a linear model must recover; 1 target' });

const addingDatasetRefSchema = z
  .strictObject({ name: z.literal('adding'), rows, length: sequenceLength(50).describe('T, steps per sequence'), seed: dataSeed })
  .meta({
    id: 'AddingDatasetRef',
    description: 'Adding problem: steps [value ~ U(0, 1), marker]; two markers, one per half; target their values\' sum. Input [T, 2], 1 target; always predicting 1 scores MSE ≈ 0.167',
  });

const copyDatasetRefSchema = z
  .strictObject({
    name: z.literal('copy'),
    rows,
    symbols: z.int().min(1).max(1000).default(8).describe('Alphabet: symbols 1 … symbols; 0 is blank, symbols + 1 the delimiter'),
    length: z.int().min(1).max(1000).default(10).describe('Symbols to remember'),
    delay: z.int().min(1).max(10_000).default(10).describe('Steps between the end of the symbols and the delimiter, plus one'),
    inputs: z.enum(['oneHot', 'tokens']).default('oneHot').describe('Steps as one-hot vectors, or token ids for an embedding layer'),
    seed: dataSeed,
  })
  .meta({
    id: 'CopyDatasetRef',
    description: 'Copy task: remember `length` symbols over `delay` steps and repeat them after the delimiter; a class per step ([2·length + delay, symbols + 1] output)',
  });

const sineDatasetRefSchema = z
  .strictObject({
    name: z.literal('sine'),
    rows,
    length: sequenceLength(40).describe('Observed steps T'),
    horizon: z.int().min(1).max(1000).default(1).describe('Future values to predict'),
    noise: noise.default(0.05),
    seed: dataSeed,
  })
  .meta({
    id: 'SineDatasetRef',
    description: 'Sine forecasting: A·sin(ωt + φ) + noise for T steps (A, ω, φ drawn per row) → the next `horizon` clean values. Input [T, 1]',
  });

/** The generated data sets, by name, with the schema of their parameters. */
export const syntheticDatasetRefs = {
  xor: xorDatasetRefSchema,
  spirals: spiralsDatasetRefSchema,
  blobs: blobsDatasetRefSchema,
  regression: regressionDatasetRefSchema,
  adding: addingDatasetRefSchema,
  copy: copyDatasetRefSchema,
  sine: sineDatasetRefSchema,
} as const;

export const datasetRefSchema = z
  .discriminatedUnion('name', [
    builtInDatasetRefSchema,
    xorDatasetRefSchema,
    spiralsDatasetRefSchema,
    blobsDatasetRefSchema,
    regressionDatasetRefSchema,
    addingDatasetRefSchema,
    copyDatasetRefSchema,
    sineDatasetRefSchema,
    uploadedDatasetRefSchema,
  ])
  .meta({ id: 'DatasetRef' });
export type DatasetRef = z.infer<typeof datasetRefSchema>;

export interface DatasetShape {
  rows: number;
  featureSize: number;
  /** Classes of the targets; 0 for a regression set. */
  classes: number;
  /** The shape of one row as the model sees it (without the batch dimension). */
  inputShape?: number[];
  /** What the model outputs per row: [classes] (the default), [steps, classes], or the regression targets' shape. */
  outputShape?: number[];
  /** Inputs are token ids below this (for an embedding layer). */
  vocabulary?: number;
  /** Rows the data set holds out itself as a fixed test set (counted in `rows`). */
  fixedTestRows?: number;
}

/** MNIST's canonical test set: these many rows of a fixed permutation, whatever the job's seed. */
export const MNIST_FIXED_TEST_ROWS = 2000;

/**
 * Shape and size of a data set reference, without generating or loading it; null for an upload,
 * whose shape is in the database (the job service checks it there).
 */
export function describeDataset(ref: DatasetRef): DatasetShape | null {
  switch (ref.name) {
    case 'upload':
      return null;
    case 'xor':
      return { rows: ref.rows, featureSize: 2, classes: 2 };
    case 'spirals':
      return { rows: ref.rows, featureSize: 2, classes: ref.arms };
    case 'blobs':
      return { rows: ref.rows, featureSize: ref.features, classes: ref.classes };
    case 'regression':
      return { rows: ref.rows, featureSize: ref.coefficients.length, classes: 0, outputShape: [1] };
    case 'adding':
      return { rows: ref.rows, featureSize: ref.length * 2, classes: 0, inputShape: [ref.length, 2], outputShape: [1] };
    case 'sine':
      return { rows: ref.rows, featureSize: ref.length, classes: 0, inputShape: [ref.length, 1], outputShape: [ref.horizon] };
    case 'copy': {
      const steps = 2 * ref.length + ref.delay;
      const vocabulary = ref.symbols + 2;
      const tokens = ref.inputs === 'tokens';
      return {
        rows: ref.rows,
        featureSize: steps * (tokens ? 1 : vocabulary),
        classes: ref.symbols + 1,
        inputShape: tokens ? [steps] : [steps, vocabulary],
        outputShape: [steps, ref.symbols + 1],
        ...(tokens ? { vocabulary } : {}),
      };
    }
    default: {
      const info = builtInDatasets[ref.name];
      const kept = ref.classes ?? info.classNames.map((_, i) => i);
      return {
        rows: kept.reduce((sum, c) => sum + (info.classRows[c] ?? 0), 0),
        featureSize: info.featureShape[0],
        classes: kept.length,
        inputShape: ref.name === 'mnist' && ref.shape === 'image' ? [28, 28, 1] : [info.featureShape[0]],
        ...(ref.fixedTestSet ? { fixedTestRows: MNIST_FIXED_TEST_ROWS } : {}),
      };
    }
  }
}

export const optimizerPhaseSchema = z
  .strictObject({
    optimizer: optimizerRefSchema,
    untilEpoch: z.int().min(1).optional().describe('Last epoch of this phase; the last phase runs to the end'),
    learningRate: learningRateSchema.optional().describe("This phase's rate; defaults to the spec's learningRate"),
  })
  .meta({ id: 'OptimizerPhase', description: 'At a phase boundary the next optimizer starts with fresh state' });

export const resolvedOptimizerPhaseSchema = z
  .strictObject({
    optimizer: optimizerConfigSchema,
    untilEpoch: z.int().min(1),
    learningRate: learningRateSchema,
  })
  .meta({ id: 'ResolvedOptimizerPhase' });
export type ResolvedOptimizerPhase = z.infer<typeof resolvedOptimizerPhaseSchema>;

export const gradientNoiseSchema = z
  .strictObject({
    eta: z.number().positive().max(100).default(0.3).describe('η_noise; the paper tries 0.01, 0.3 and 1.0'),
    gamma: z.number().min(0).max(10).default(0.55).describe('γ'),
  })
  .meta({ id: 'GradientNoise', description: 'g ← g + N(0, σ²), σ² = η / (1 + t)^γ; seeded; applied after clipNorm' });

export const divergenceSchema = z
  .strictObject({
    maxRetries: z.int().min(0).max(20).default(3).describe('Halvings before the job fails'),
    factor: z
      .number()
      .gt(1)
      .max(1e6)
      .default(4)
      .describe("Diverged when an epoch's mean training loss exceeds factor × the best epoch mean so far (and the tolerance), or any step's loss is NaN/Inf"),
    tolerance: z
      .number()
      .min(0)
      .max(1e6)
      .default(0.1)
      .describe("A rise above the best epoch mean smaller than tolerance × the first epoch's mean loss is never divergence: batch noise near a small loss is not a blow-up"),
  })
  .meta({
    id: 'DivergenceRecovery',
    description:
      'On divergence: roll back to the last weights whose loss was checked (the end of the epoch before the last good one), halve the rate for every step from there, continue; fail after maxRetries. Checked at every epoch end, and at every step for NaN/Inf',
  });

export const lrRangeTestSchema = z
  .strictObject({
    minLearningRate: z.number().positive().max(10).default(1e-6),
    maxLearningRate: z.number().positive().max(100).default(1),
    steps: z
      .int()
      .min(10)
      .max(10_000)
      .optional()
      .describe("Rates swept; when absent one epoch's steps, at least 100 and at most 1000"),
  })
  .meta({
    id: 'LrRangeTest',
    description:
      'η_i = min · (max/min)^(i/(steps−1)), one batch per rate, stopping once the loss blows up; the suggestion is checked by short trials from the starting weights and must make the loss fall (docs/techniques/optimization.md)',
  });

const layerRef = z.union([z.string().min(1), z.int().min(0)]);

export const initSchema = z
  .strictObject({
    from: z
      .strictObject({
        job: z.uuid().describe('The job whose weights to start from (finished or running)'),
        checkpoint: checkpointRef,
      })
      .meta({ id: 'InitSource' }),
    mode: z
      .enum(['finetune', 'linearProbe'])
      .default('finetune')
      .describe('finetune: every layer trains (but frozen ones); linearProbe: keep the layers up to cutAt, frozen, and put the output layer on top'),
    freeze: z
      .union([
        z.strictObject({ upTo: layerRef.describe('A prefix: this layer and every one before it') }),
        z.strictObject({ layers: z.array(z.string().min(1)).min(1).describe('Layer names') }),
      ])
      .optional()
      .describe('finetune: layers whose weights stay as loaded'),
    cutAt: layerRef.optional().describe('linearProbe: the last layer kept (name or index); default the last hidden layer'),
    transfer: z
      .literal('auto')
      .optional()
      .describe('Pick freeze/finetune and the cut from the new data set\'s size and `similarity` (docs/techniques/initialization.md); the choice and its reason are recorded'),
    similarity: z.enum(['similar', 'different']).optional().describe('transfer auto: how the new data set relates to the source job\'s'),
    smallDatasetRows: z.int().min(1).default(5000).describe('transfer auto: at most this many training rows count as a small data set'),
  })
  .meta({
    id: 'Init',
    description:
      'Start from another job\'s checkpoint: layers are matched by name (a layer with the same name must have the same weight shapes); ' +
      'layers not in the source start fresh. Frozen layers keep their loaded weights and run in inference mode.',
  });

/** What the worker runs: the source checkpoint fixed, the frozen layers listed, the model already cut. */
export const resolvedInitSchema = z
  .strictObject({
    from: z.strictObject({ job: z.uuid(), checkpoint: z.uuid() }),
    mode: z.enum(['finetune', 'linearProbe']),
    /** Layers loaded from the checkpoint, by name. */
    loaded: z.array(z.string()),
    frozen: z.array(z.string()),
    cutAt: z.string().optional(),
    reason: z.string().describe('What was loaded, frozen and trained fresh, and for transfer auto why'),
  })
  .meta({ id: 'ResolvedInit' });
export type ResolvedInit = z.infer<typeof resolvedInitSchema>;

/** Which kind of worker may train a job; each kind has its own queue (src/queue/training-queues.ts). */
export const deviceRequestSchema = z.enum(['any', 'cpu', 'gpu']);
export type DeviceRequest = z.infer<typeof deviceRequestSchema>;

const jobSpecFields = {
  name: z.string().min(1).max(200).optional().describe('A label for people; not unique'),
  dataset: datasetRefSchema,
  model: modelSchema,
  loss: lossSchema,
  task: z.enum(['train', 'lrRangeTest']).default('train').describe('lrRangeTest sweeps the rate and suggests one instead of training'),
  optimizer: z
    .union([optimizerRefSchema, z.array(optimizerPhaseSchema).min(1).max(20)])
    .default('adam')
    .describe('A name ("adam") takes the defaults; a list is run as phases ("Adam first, then SGD"). The job echoes the resolved form'),
  learningRate: learningRateSchema
    .optional()
    .describe("Defaults to the optimizer's: 0.01 for sgd, momentum, nesterov, adagrad, rmsprop; 0.001 for adam, adamw"),
  linearScaling: linearScalingSchema.optional(),
  clipNorm: z.number().positive().optional().describe('Clip the gradients to this global L2 norm (before noise)'),
  gradientNoise: gradientNoiseSchema.optional(),
  divergence: divergenceSchema.optional(),
  lrRangeTest: lrRangeTestSchema.optional().describe('Only with task lrRangeTest; defaults filled in'),
  epochs: z.int().min(1).max(10_000).default(10),
  batchSize: z.int().min(1).max(65_536).default(32),
  validationSplit: z
    .number()
    .min(0)
    .lt(1)
    .default(0.2)
    .describe('Fraction held out for validation after a seeded shuffle (0 = none)'),
  testSplit: z
    .number()
    .min(0)
    .lt(1)
    .default(0)
    .describe("Fraction held out as a test set (after a seeded shuffle), scored once on the final model however the run ends (last epoch or early stop): test_loss, test_accuracy in the last epoch's metrics"),
  earlyStopping: z
    .strictObject({
      monitor: z.enum(['val_loss', 'val_accuracy', 'val_mae', 'loss', 'accuracy', 'mae']).default('val_loss').describe('accuracy for classification, mae (mean absolute error) for regression'),
      mode: z.enum(['auto', 'min', 'max']).default('auto').describe('auto: max for accuracies, min for losses'),
      patience: z.int().min(0).max(10_000).default(5).describe('Epochs without improvement before stopping'),
      minDelta: z.number().min(0).default(0).describe('Smallest change that counts as an improvement'),
      baseline: z
        .number()
        .optional()
        .describe("Keras's baseline: the patience counter is only reset by an epoch that beats both the best so far and this value, so a run that does not reach it stops at its first epoch without improvement once `patience` epochs have passed"),
      restoreBest: z
        .boolean()
        .default(true)
        .describe("End with the weights of the best epoch, whether the run stops early or runs to its last epoch (Keras 3's restore_best_weights)"),
    })
    .optional()
    .meta({ id: 'EarlyStopping', description: "Keras 3's EarlyStopping (docs/techniques/regularization.md). The best epoch by `monitor` is also what marks the best checkpoint" }),
  regularization: z
    .strictObject({
      l1: z
        .number()
        .min(0)
        .max(10)
        .default(0)
        .describe('λ₁: L += λ₁ Σ|w| over the kernels of dense and conv2d layers and the input kernels of simpleRnn, lstm and gru layers (not recurrent kernels, biases, embeddings or normalization weights)'),
      l2: z.number().min(0).max(10).default(0).describe('λ₂: L += λ₂ Σ w² over the same kernels as l1'),
      maxNorm: z
        .number()
        .positive()
        .max(1e6)
        .optional()
        .describe("c: after every step, each unit's incoming weights of every dense and conv2d kernel are rescaled to an L2 norm of at most c (a layer's own maxNorm wins)"),
      labelSmoothing: z.number().min(0).lt(1).default(0).describe('ε: targets y′ = (1 − ε) y + ε / K'),
      confidencePenalty: z.number().min(0).max(100).default(0).describe('β: L = CE − β H(p), H(p) = −Σ p log p'),
      entropyThreshold: z
        .strictObject({ beta: z.number().positive().max(100), tau: z.number().positive().max(100) })
        .optional()
        .describe('L = CE + β · max(0, τ − H(p)): penalise only confident outputs'),
    })
    .default({ l1: 0, l2: 0, labelSmoothing: 0, confidencePenalty: 0 })
    .meta({
      id: 'Regularization',
      description: 'With any of the last three, mean output entropy is reported as output_entropy. val_loss and test_loss stay the plain cross-entropy.',
    }),
  preprocessing: z
    .strictObject({
      features: z
        .enum(['none', 'standardize', 'minMax'])
        .default('none')
        .describe('standardize: (x − mean) / std; minMax: (x − min) / (max − min); fitted on the training rows only'),
    })
    .default({ features: 'none' })
    .meta({ id: 'Preprocessing', description: 'The fitted parameters are recorded in a preprocessing event and in every checkpoint' }),
  shuffle: z
    .boolean()
    .default(true)
    .describe("Shuffle (seeded) before the split and reshuffle the training rows every epoch; false keeps the data set's row order: train is the first rows, then validation, then test, and every epoch runs them in that order"),
  init: initSchema.optional(),
  distributed: distributedSchema.optional(),
  diagnostics: z
    .strictObject({
      activationVariance: z
        .boolean()
        .default(false)
        .describe('Record each layer\'s output variance (and its ratio to the input\'s) at step 0 as an activationVariance event'),
    })
    .default({ activationVariance: false })
    .meta({ id: 'Diagnostics' }),
  silenceAdvice: z
    .array(z.enum(adviceCodes))
    .max(adviceCodes.length)
    .optional()
    .describe('Advice codes not to give for this job: submission checks the spec against practical tips and answers `advice` beside the job, never an error (docs/advice.md)'),
  seed: z.int().min(0).max(2 ** 31 - 1).optional().describe('Drawn at random and echoed when absent'),
  checkpoint: z
    .strictObject({
      everyEpochs: z.int().min(1).default(1),
      keep: z.int().min(1).max(1000).default(3).describe('Keep the newest `keep` checkpoints plus the best (by val_loss, or loss without validation)'),
    })
    .default({ everyEpochs: 1, keep: 3 })
    .meta({ id: 'CheckpointPolicy', description: 'Checkpoints (weights, optimizer state, schedule position, RNG) are written every `everyEpochs` and at the end' }),
  priority: z.int().min(1).max(1000).default(100).describe('Queue priority: lower runs first'),
  resources: z
    .strictObject({
      device: deviceRequestSchema
        .default('any')
        .describe('gpu: only a GPU worker takes it (it waits, saying so, while none is running); cpu: only a CPU worker; any: the first free worker'),
    })
    .default({ device: 'any' })
    .meta({ id: 'Resources' }),
  maxRestarts: z
    .int()
    .min(0)
    .max(100)
    .default(10)
    .describe("Restarts from the last checkpoint after failures that are not the spec's fault (a killed worker or training process, a lost database session); then the job fails, listing each cause"),
  maxRuntimeSeconds: z.int().min(1).max(30 * 24 * 3600).optional().describe('Checkpoint and fail the job when it has trained this long'),
  logEveryBatches: z
    .int()
    .min(0)
    .max(1_000_000)
    .default(10)
    .describe('Record batch metrics every N optimizer steps (0 = epoch metrics only)'),
};

const jobSpecObject = z.strictObject(jobSpecFields);
/** A spec whose fields are each valid, before the cross-field checks. */
export type JobSpecFields = z.infer<typeof jobSpecObject>;

export const jobSpecSchema = jobSpecObject
  .superRefine((spec, ctx) => {
    for (const problem of specProblems(spec, describeDataset(spec.dataset))) ctx.addIssue({ code: 'custom', ...problem });
  })
  .meta({ id: 'JobSpec' });
export type JobSpec = z.infer<typeof jobSpecSchema>;
export type JobSpecInput = z.input<typeof jobSpecSchema>;

/**
 * The spec as it runs: every default filled in, optimizers spelt out (phases with their last
 * epoch and rate), η₀ fixed (given, linearly scaled or the optimizer's default), the seed fixed.
 */
export const resolvedJobSpecSchema = z
  .strictObject({
    ...jobSpecFields,
    optimizer: z.union([optimizerConfigSchema, z.array(resolvedOptimizerPhaseSchema).min(1)]),
    loss: resolvedLossSchema,
    init: resolvedInitSchema.optional(),
    seed: z.int().min(0).max(2 ** 31 - 1),
  })
  .meta({ id: 'ResolvedJobSpec' });
export type ResolvedJobSpec = z.infer<typeof resolvedJobSpecSchema>;

/**
 * `datasetClasses`: the classes of an uploaded data set (0 for number labels), which the spec alone
 * cannot tell; it picks the loss when the spec says `auto`.
 */
export function resolveJobSpec(
  spec: JobSpec,
  {
    drawSeed = () => randomInt(0, 2 ** 31 - 1),
    datasetClasses,
    transfer,
    columns,
  }: {
    drawSeed?: () => number;
    datasetClasses?: number;
    /** With `init`: the plan made against the source checkpoint (src/spec/transfer-plan.ts). */
    transfer?: { init: ResolvedInit; layers: LayerSpec[] };
    /** With `model.progressive`: each column's job, checkpoint id and layers. */
    columns?: { job: string; checkpoint: string; layers: LayerSpec[] }[];
  } = {},
): ResolvedJobSpec {
  if (spec.init && !transfer) throw new Error('a spec with init needs its transfer plan to be resolved');
  if (spec.model.progressive && !columns) throw new Error('a progressive spec needs its columns to be resolved');
  const scaled = spec.linearScaling
    ? (spec.linearScaling.baseLearningRate * spec.batchSize) / spec.linearScaling.baseBatchSize
    : undefined;
  const rateFor = (rate: LearningRate | undefined, optimizer: OptimizerConfig): LearningRate => {
    const initial = scaled ?? defaultLearningRates[optimizer.type];
    if (rate === undefined) return initial;
    return typeof rate === 'number' ? rate : resolveSchedule(rate, initial);
  };
  let optimizer: ResolvedJobSpec['optimizer'];
  let learningRate = spec.learningRate;
  if (Array.isArray(spec.optimizer)) {
    optimizer = spec.optimizer.map((phase) => {
      const config = resolveOptimizer(phase.optimizer);
      return { optimizer: config, untilEpoch: phase.untilEpoch ?? spec.epochs, learningRate: rateFor(phase.learningRate ?? spec.learningRate, config) };
    });
  } else {
    optimizer = resolveOptimizer(spec.optimizer);
    learningRate = rateFor(spec.learningRate, optimizer);
  }
  return {
    ...spec,
    optimizer,
    learningRate,
    loss: resolveLoss(spec.loss, describeDataset(spec.dataset)?.classes ?? datasetClasses ?? 1),
    ...(transfer ? { init: transfer.init, model: { ...spec.model, layers: transfer.layers } } : { init: undefined }),
    ...(columns ? { model: { ...spec.model, progressive: { columns } } } : {}),
    ...(spec.task === 'lrRangeTest' ? { lrRangeTest: lrRangeTestSchema.parse(spec.lrRangeTest ?? {}) } : {}),
    seed: spec.seed ?? drawSeed(),
  };
}

/**
 * Rows and steps of a run, from the spec alone: the validator and the trainer share this
 * arithmetic. `datasetRows` are the rows available for splitting (after `limit`, without a fixed
 * test set); a data set's own fixed test rows replace the testSplit fraction.
 */
export function runShape(
  spec: Pick<JobSpec, 'validationSplit' | 'testSplit' | 'batchSize' | 'epochs'>,
  datasetRows: number,
  fixedTestRows = 0,
) {
  const rows = datasetRows + fixedTestRows;
  const testRows = fixedTestRows > 0 ? fixedTestRows : Math.floor(datasetRows * spec.testSplit);
  const validationRows = Math.floor(datasetRows * spec.validationSplit);
  const trainRows = rows - validationRows - testRows;
  const stepsPerEpoch = Math.ceil(Math.max(trainRows, 0) / spec.batchSize);
  return { rows, trainRows, validationRows, testRows, stepsPerEpoch, totalSteps: stepsPerEpoch * spec.epochs };
}

/** The rows a job splits into train, validation and (unless the set has a fixed one) test: `limit` applied. */
export function splittableRows(ref: DatasetRef, info: Pick<DatasetShape, 'rows' | 'fixedTestRows'>): number {
  const available = info.rows - (info.fixedTestRows ?? 0);
  const limit = 'limit' in ref ? ref.limit : undefined;
  return Math.min(limit ?? available, available);
}

interface Problem {
  path: (string | number)[];
  message: string;
}

/**
 * Checks that need more than one field, or the data set's shape (`info`: the whole set, before
 * any `limit`). Without `info` (an upload, before its shape is read) the shape checks are skipped;
 * the job service runs this again with the uploaded set's shape.
 */
export function specProblems(spec: JobSpecFields, info: DatasetShape | null): Problem[] {
  if (!info) return optimizationProblems(spec, null).concat(layerNameProblems(spec));
  const problems: Problem[] = [];
  const dataset = spec.dataset;
  const limit = 'limit' in dataset ? dataset.limit : undefined;
  const available = info.rows - (info.fixedTestRows ?? 0);
  if (limit !== undefined && limit > available) {
    problems.push({ path: ['dataset', 'limit'], message: `the data set has only ${available} rows${info.fixedTestRows ? ' besides its fixed test set' : ''}` });
  }
  if ((dataset.name === 'iris' || dataset.name === 'mnist') && dataset.classes) {
    const known = builtInDatasets[dataset.name].classes;
    const classes = dataset.classes;
    classes.forEach((c, i) => {
      if (c >= known) problems.push({ path: ['dataset', 'classes', i], message: `${dataset.name} has classes 0 … ${known - 1}` });
      else if (classes.indexOf(c) !== i) problems.push({ path: ['dataset', 'classes', i], message: `class ${c} is listed twice` });
    });
    if (dataset.fixedTestSet) {
      problems.push({ path: ['dataset', 'fixedTestSet'], message: 'the fixed test set covers all ten digits: with classes, hold out a testSplit instead' });
    }
  }
  if (info.fixedTestRows && spec.testSplit > 0) {
    problems.push({ path: ['testSplit'], message: 'must be 0 with dataset.fixedTestSet (the fixed test set is the test split)' });
  }
  // Generated sets live in the worker's memory as float32.
  if (info.rows * info.featureSize > 10_000_000) {
    problems.push({ path: ['dataset', 'rows'], message: `rows × features is ${info.rows * info.featureSize}; at most 10 000 000 values` });
  }
  const { rows, trainRows, validationRows, testRows, totalSteps } = runShape(spec, splittableRows(dataset, info), info.fixedTestRows);
  if (spec.testSplit > 0 && testRows < 1) {
    problems.push({ path: ['testSplit'], message: `holds out no rows of ${rows}; raise it or set 0` });
  }
  if (trainRows < 1) {
    problems.push({ path: ['validationSplit'], message: `with testSplit ${spec.testSplit} leaves no training rows out of ${rows}` });
  } else if (spec.batchSize > trainRows) {
    problems.push({
      path: ['batchSize'],
      message: `is larger than the ${trainRows} training rows (${rows} rows, validationSplit ${spec.validationSplit}, testSplit ${spec.testSplit})`,
    });
  }
  if (spec.validationSplit > 0 && validationRows < 1) {
    problems.push({ path: ['validationSplit'], message: `holds out no rows of ${rows}; raise it or set 0` });
  }

  if (dataset.name === 'iris' && (dataset.shape === 'image' || dataset.fixedTestSet)) {
    const field = dataset.shape === 'image' ? 'shape' : 'fixedTestSet';
    problems.push({ path: ['dataset', field], message: field === 'shape' ? 'only mnist has an image form' : 'only mnist has a fixed test set' });
  } else {
    problems.push(...modelProblems(spec, info));
  }
  problems.push(...optimizationProblems(spec, totalSteps), ...layerNameProblems(spec));
  return problems;
}

function layerNameProblems(spec: JobSpecFields): Problem[] {
  return [...duplicateNameProblems(spec), ...initProblems(spec), ...progressiveProblems(spec), ...distributedProblems(spec)];
}

function duplicateNameProblems(spec: JobSpecFields): Problem[] {
  const problems: Problem[] = [];
  const layers = spec.model.layers;
  const names = new Map<string, number>();
  layers.forEach((layer, index) => {
    if (!layer.name) return;
    const first = names.get(layer.name);
    if (first !== undefined) {
      problems.push({ path: ['model', 'layers', index, 'name'], message: `duplicates the name of layer ${first}` });
    } else {
      names.set(layer.name, index);
    }
  });
  return problems;
}

/** Phases in order and within the run, schedules that stay within the run, options that fit the task. */
function optimizationProblems(spec: JobSpecFields, totalSteps: number | null): Problem[] {
  const problems: Problem[] = [];
  const stepsPerEpoch = totalSteps === null ? null : totalSteps / spec.epochs;
  const spanOf = (epochs: number, what: string) => ({ epochs, steps: stepsPerEpoch === null ? null : stepsPerEpoch * epochs, what });
  const checkRate = (rate: LearningRate | undefined, path: (string | number)[], span = spanOf(spec.epochs, "the run's")) => {
    if (rate === undefined) return;
    if (typeof rate === 'number') {
      if (spec.linearScaling) problems.push({ path, message: 'give either a rate or linearScaling, not both' });
      return;
    }
    if (rate.initial !== undefined && spec.linearScaling) {
      problems.push({ path: [...path, 'initial'], message: 'give either initial or linearScaling, not both' });
    }
    for (const problem of scheduleProblems(rate, span, spec.validationSplit > 0)) problems.push({ path: [...path, ...problem.path], message: problem.message });
  };
  checkRate(spec.learningRate, ['learningRate']);

  if (Array.isArray(spec.optimizer)) {
    const phases = spec.optimizer;
    let previous = 0;
    phases.forEach((phase, index) => {
      const last = index === phases.length - 1;
      const path = ['optimizer', index, 'untilEpoch'];
      if (phase.untilEpoch === undefined) {
        if (!last) problems.push({ path, message: 'every phase but the last needs the epoch it ends with' });
      } else if (phase.untilEpoch <= previous) {
        problems.push({ path, message: `must be after the previous phase's ${previous} (phases run in ascending order)` });
      } else if (last ? phase.untilEpoch !== spec.epochs : phase.untilEpoch >= spec.epochs) {
        problems.push({
          path,
          message: last ? `the last phase runs to the end: omit it or set ${spec.epochs}` : `must be below epochs (${spec.epochs}) so a later phase runs`,
        });
      }
      const until = last ? spec.epochs : (phase.untilEpoch ?? spec.epochs);
      checkRate(phase.learningRate, ['optimizer', index, 'learningRate'], spanOf(Math.max(1, until - previous), `phase ${index + 1}'s`));
      previous = phase.untilEpoch ?? previous;
    });
  }

  if (spec.earlyStopping?.monitor.startsWith('val_') && spec.validationSplit === 0) {
    problems.push({ path: ['earlyStopping', 'monitor'], message: `${spec.earlyStopping.monitor} needs a validation split: set validationSplit or monitor loss` });
  }
  if (spec.checkpoint.everyEpochs > spec.epochs) {
    problems.push({ path: ['checkpoint', 'everyEpochs'], message: `is beyond the run's ${spec.epochs} epochs (the final checkpoint is always written)` });
  }

  if (spec.task === 'lrRangeTest') {
    const test = spec.lrRangeTest;
    if (test && test.minLearningRate >= test.maxLearningRate) {
      problems.push({ path: ['lrRangeTest', 'maxLearningRate'], message: `must be above minLearningRate (${test.minLearningRate})` });
    }
    if (Array.isArray(spec.optimizer)) problems.push({ path: ['optimizer'], message: 'an lrRangeTest uses one optimizer, not phases' });
    if (spec.divergence) problems.push({ path: ['divergence'], message: 'not used by an lrRangeTest (it stops when the loss blows up)' });
  } else if (spec.lrRangeTest) {
    problems.push({ path: ['lrRangeTest'], message: 'only used with task "lrRangeTest"' });
  }
  return problems;
}
