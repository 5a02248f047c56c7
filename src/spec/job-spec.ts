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
import { inferShapes } from './layer-shapes.js';
import { learningRateSchema, linearScalingSchema, resolveSchedule, type LearningRate } from './schedule-spec.js';

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

const kernelRegularizer = z
  .strictObject({ l1: z.number().min(0).max(10).default(0), l2: z.number().min(0).max(10).default(0) })
  .optional()
  .describe("This layer's kernel penalty, instead of regularization.l1/l2");

export const denseLayerSchema = z
  .strictObject({
    type: z.literal('dense'),
    name: layerName,
    units: z.int().min(1).max(65_536),
    activation: activationSchema.default('linear'),
    useBias: z.boolean().default(true),
    kernelRegularizer,
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
    momentum: z.number().min(0).lt(1).default(0.99).describe('Running mean/variance ← momentum · running + (1 − momentum) · batch'),
    epsilon: z.number().positive().max(1).default(0.001),
  })
  .meta({
    id: 'BatchNormalizationLayer',
    description: 'Ioffe & Szegedy 2015: batch statistics in training, running mean/variance at inference; learnable γ, β (last axis)',
  });

export const layerNormalizationLayerSchema = z
  .strictObject({ type: z.literal('layerNormalization'), name: layerName, epsilon: z.number().positive().max(1).default(0.001) })
  .meta({ id: 'LayerNormalizationLayer', description: 'Ba et al. 2016: statistics over the units of each sample; independent of batch size' });

export const layerSchema = z
  .discriminatedUnion('type', [
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

export const modelSchema = z
  .strictObject({
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

const builtInDatasetRefSchema = z
  .strictObject({
    name: z.enum(builtInDatasetNames).describe('A built-in real data set (GET /v1/datasets lists them)'),
    limit: z.int().min(2).optional().describe('Use only the first `limit` rows after the seeded shuffle'),
    shape: z.enum(['vector', 'image']).default('vector').describe('mnist only: 784-vectors, or 28×28×1 images for convolutions'),
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

/** The generated data sets, by name, with the schema of their parameters. */
export const syntheticDatasetRefs = { xor: xorDatasetRefSchema, spirals: spiralsDatasetRefSchema, blobs: blobsDatasetRefSchema } as const;

export const datasetRefSchema = z
  .discriminatedUnion('name', [builtInDatasetRefSchema, xorDatasetRefSchema, spiralsDatasetRefSchema, blobsDatasetRefSchema, uploadedDatasetRefSchema])
  .meta({ id: 'DatasetRef' });
export type DatasetRef = z.infer<typeof datasetRefSchema>;

export interface DatasetShape {
  rows: number;
  featureSize: number;
  classes: number;
  /** The shape of one row as the model sees it (without the batch dimension). */
  inputShape?: number[];
}

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
    default: {
      const info = builtInDatasets[ref.name];
      return {
        rows: info.rows,
        featureSize: info.featureShape[0],
        classes: info.classes,
        inputShape: ref.name === 'mnist' && ref.shape === 'image' ? [28, 28, 1] : [info.featureShape[0]],
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
    factor: z.number().gt(1).max(1e6).default(4).describe('Diverged when the loss exceeds factor × the best loss so far (or is NaN/Inf)'),
  })
  .meta({
    id: 'DivergenceRecovery',
    description: 'On divergence: roll back to the last good epoch, halve the rate, continue. Checked whenever the loss is read (batch records and epoch ends).',
  });

export const lrRangeTestSchema = z
  .strictObject({
    minLearningRate: z.number().positive().max(10).default(1e-6),
    maxLearningRate: z.number().positive().max(100).default(1),
    steps: z.int().min(10).max(10_000).default(100),
  })
  .meta({ id: 'LrRangeTest', description: 'η_i = min · (max/min)^(i/(steps−1)), one batch per rate; stops early once the loss blows up' });

const jobSpecFields = {
  name: z.string().min(1).max(200).optional().describe('A label for people; not unique'),
  dataset: datasetRefSchema,
  model: modelSchema,
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
    .describe('Fraction held out as a test set (after a seeded shuffle), evaluated once at the end: test_loss, test_accuracy'),
  earlyStopping: z
    .strictObject({
      monitor: z.enum(['val_loss', 'val_accuracy', 'loss', 'accuracy']).default('val_loss'),
      mode: z.enum(['auto', 'min', 'max']).default('auto').describe('auto: max for accuracies, min for losses'),
      patience: z.int().min(0).max(10_000).default(5).describe('Epochs without improvement before stopping'),
      minDelta: z.number().min(0).default(0).describe('Smallest change that counts as an improvement'),
      restoreBest: z.boolean().default(true).describe('End with the weights of the best epoch'),
    })
    .optional()
    .meta({ id: 'EarlyStopping', description: 'The best epoch by `monitor` is also what marks the best checkpoint' }),
  regularization: z
    .strictObject({
      l1: z.number().min(0).max(10).default(0).describe('λ₁: L += λ₁ Σ|w| over every dense and conv2d kernel (biases are not penalised)'),
      l2: z.number().min(0).max(10).default(0).describe('λ₂: L += λ₂ Σ w²'),
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
  shuffle: z.boolean().default(true).describe('Reshuffle the training rows every epoch (seeded)'),
  seed: z.int().min(0).max(2 ** 31 - 1).optional().describe('Drawn at random and echoed when absent'),
  checkpoint: z
    .strictObject({
      everyEpochs: z.int().min(1).default(1),
      keep: z.int().min(1).max(1000).default(3).describe('Keep the newest `keep` checkpoints plus the best (by val_loss, or loss without validation)'),
    })
    .default({ everyEpochs: 1, keep: 3 })
    .meta({ id: 'CheckpointPolicy', description: 'Checkpoints (weights, optimizer state, schedule position, RNG) are written every `everyEpochs` and at the end' }),
  priority: z.int().min(1).max(1000).default(100).describe('Queue priority: lower runs first'),
  maxRuntimeSeconds: z.int().min(1).max(30 * 24 * 3600).optional().describe('Checkpoint and fail the job when it has trained this long'),
  logEveryBatches: z
    .int()
    .min(0)
    .max(1_000_000)
    .default(10)
    .describe('Record batch metrics every N optimizer steps (0 = epoch metrics only)'),
};

const jobSpecObject = z.strictObject(jobSpecFields);

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
    seed: z.int().min(0).max(2 ** 31 - 1),
  })
  .meta({ id: 'ResolvedJobSpec' });
export type ResolvedJobSpec = z.infer<typeof resolvedJobSpecSchema>;

export function resolveJobSpec(spec: JobSpec, drawSeed: () => number = () => randomInt(0, 2 ** 31 - 1)): ResolvedJobSpec {
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
    ...(spec.task === 'lrRangeTest' ? { lrRangeTest: lrRangeTestSchema.parse(spec.lrRangeTest ?? {}) } : {}),
    seed: spec.seed ?? drawSeed(),
  };
}

/** Rows and steps of a run, from the spec alone: the validator and the trainer share this arithmetic. */
export function runShape(spec: Pick<JobSpec, 'validationSplit' | 'testSplit' | 'batchSize' | 'epochs'>, datasetRows: number) {
  const rows = datasetRows;
  const testRows = Math.floor(rows * spec.testSplit);
  const validationRows = Math.floor(rows * spec.validationSplit);
  const trainRows = rows - validationRows - testRows;
  const stepsPerEpoch = Math.ceil(Math.max(trainRows, 0) / spec.batchSize);
  return { rows, trainRows, validationRows, testRows, stepsPerEpoch, totalSteps: stepsPerEpoch * spec.epochs };
}

interface Problem {
  path: (string | number)[];
  message: string;
}

/** Checks that need more than one field (or the data set's shape), so they run after the field checks. */
/**
 * Checks that need more than one field, or the data set's shape (`info`: the whole set, before
 * any `limit`). Without `info` (an upload, before its shape is read) the shape checks are skipped;
 * the job service runs this again with the uploaded set's shape.
 */
export function specProblems(spec: z.infer<typeof jobSpecObject>, info: DatasetShape | null): Problem[] {
  if (!info) return optimizationProblems(spec, null).concat(layerNameProblems(spec));
  const problems: Problem[] = [];
  const dataset = spec.dataset;
  const limit = 'limit' in dataset ? dataset.limit : undefined;
  if (limit !== undefined && limit > info.rows) {
    problems.push({ path: ['dataset', 'limit'], message: `the data set has only ${info.rows} rows` });
  }
  // Generated sets live in the worker's memory as float32.
  if (info.rows * info.featureSize > 10_000_000) {
    problems.push({ path: ['dataset', 'rows'], message: `rows × features is ${info.rows * info.featureSize}; at most 10 000 000 values` });
  }
  const { rows, trainRows, validationRows, testRows, totalSteps } = runShape(spec, Math.min(limit ?? info.rows, info.rows));
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

  const layers = spec.model.layers;
  let outputIndex = -1;
  layers.forEach((layer, index) => {
    if (layer.type === 'dense') outputIndex = index;
  });
  if (outputIndex < 0) {
    problems.push({ path: ['model', 'layers'], message: 'needs at least one dense layer (the output layer)' });
  } else {
    const output = layers[outputIndex];
    if (output?.type === 'dense' && output.units !== info.classes) {
      problems.push({
        path: ['model', 'layers', outputIndex, 'units'],
        message: `the output layer needs ${info.classes} units, one per class of the data set, not ${output.units}`,
      });
    }
    layers.slice(outputIndex + 1).forEach((layer, offset) => {
      if (layer.type === 'activation' && layer.activation !== 'softmax' && layer.activation !== 'linear') {
        problems.push({
          path: ['model', 'layers', outputIndex + 1 + offset, 'activation'],
          message: 'after the output layer only softmax or linear make sense for classification',
        });
      }
    });
  }
  if (dataset.name === 'iris' && dataset.shape === 'image') {
    problems.push({ path: ['dataset', 'shape'], message: 'only mnist has an image form' });
  } else {
    const shapes = inferShapes(info.inputShape ?? [info.featureSize], layers);
    if ('message' in shapes) {
      problems.push({ path: ['model', 'layers', shapes.index], message: shapes.message });
    } else {
      // A flat output of the wrong size is the output layer's units, reported above.
      const output = shapes.shapes.at(-1)!;
      if (output.length !== 1) {
        problems.push({ path: ['model', 'layers', layers.length - 1], message: `the model outputs shape [${output.join(', ')}]; it must be [${info.classes}], one value per class` });
      }
    }
  }
  problems.push(...optimizationProblems(spec, totalSteps), ...layerNameProblems(spec));
  return problems;
}

function layerNameProblems(spec: z.infer<typeof jobSpecObject>): Problem[] {
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
function optimizationProblems(spec: z.infer<typeof jobSpecObject>, totalSteps: number | null): Problem[] {
  const problems: Problem[] = [];
  const checkRate = (rate: LearningRate | undefined, path: (string | number)[]) => {
    if (rate === undefined) return;
    if (typeof rate === 'number') {
      if (spec.linearScaling) problems.push({ path, message: 'give either a rate or linearScaling, not both' });
      return;
    }
    if (rate.initial !== undefined && spec.linearScaling) {
      problems.push({ path: [...path, 'initial'], message: 'give either initial or linearScaling, not both' });
    }
    if (totalSteps !== null && rate.warmupSteps !== undefined && rate.warmupSteps > totalSteps) {
      problems.push({ path: [...path, 'warmupSteps'], message: `${rate.warmupSteps} is beyond the run's ${totalSteps} steps` });
    }
    if (rate.type === 'step' && rate.everyEpochs >= spec.epochs) {
      problems.push({ path: [...path, 'everyEpochs'], message: `must be below epochs (${spec.epochs}), or the rate never changes` });
    }
    if (totalSteps !== null && rate.type === 'exponential' && rate.decaySteps > totalSteps) {
      problems.push({ path: [...path, 'decaySteps'], message: `${rate.decaySteps} is beyond the run's ${totalSteps} steps` });
    }
    if (rate.type === 'cosine' && rate.initial !== undefined && rate.floor >= rate.initial) {
      problems.push({ path: [...path, 'floor'], message: `must be below initial (${rate.initial})` });
    }
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
      previous = phase.untilEpoch ?? previous;
      checkRate(phase.learningRate, ['optimizer', index, 'learningRate']);
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
