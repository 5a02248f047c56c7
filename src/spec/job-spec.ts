import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { builtInDatasetNames, builtInDatasets } from '../engine/datasets/catalog.js';

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

export const denseLayerSchema = z
  .strictObject({
    type: z.literal('dense'),
    name: layerName,
    units: z.int().min(1).max(65_536),
    activation: activationSchema.default('linear'),
    useBias: z.boolean().default(true),
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

export const layerSchema = z
  .discriminatedUnion('type', [denseLayerSchema, activationLayerSchema, dropoutLayerSchema])
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

export const datasetRefSchema = z
  .strictObject({
    name: z.enum(builtInDatasetNames).describe('A built-in data set (GET /v1/datasets lists them)'),
    limit: z.int().min(2).optional().describe('Use only the first `limit` rows after the seeded shuffle'),
  })
  .meta({ id: 'DatasetRef' });

export const sgdConfigSchema = z.strictObject({ type: z.literal('sgd') }).meta({ id: 'SgdOptimizer' });
export const adamConfigSchema = z
  .strictObject({
    type: z.literal('adam'),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.999),
    epsilon: z.number().positive().default(1e-8),
  })
  .meta({ id: 'AdamOptimizer' });
export const optimizerConfigSchema = z
  .discriminatedUnion('type', [sgdConfigSchema, adamConfigSchema])
  .meta({ id: 'OptimizerConfig' });
export type OptimizerConfig = z.infer<typeof optimizerConfigSchema>;
export const optimizerNameSchema = z.enum(['sgd', 'adam']);

const defaultLearningRates: Record<OptimizerConfig['type'], number> = { sgd: 0.01, adam: 0.001 };

const jobSpecFields = {
  name: z.string().min(1).max(200).optional().describe('A label for people; not unique'),
  dataset: datasetRefSchema,
  model: modelSchema,
  optimizer: z
    .union([optimizerNameSchema, optimizerConfigSchema])
    .default('adam')
    .describe('A name ("adam") takes the defaults; the job echoes the resolved object'),
  learningRate: z
    .number()
    .positive()
    .max(10)
    .optional()
    .describe('Defaults to 0.01 for sgd, 0.001 for adam'),
  epochs: z.int().min(1).max(10_000).default(10),
  batchSize: z.int().min(1).max(65_536).default(32),
  validationSplit: z
    .number()
    .min(0)
    .lt(1)
    .default(0.2)
    .describe('Fraction held out for validation after a seeded shuffle (0 = none)'),
  shuffle: z.boolean().default(true).describe('Reshuffle the training rows every epoch (seeded)'),
  seed: z.int().min(0).max(2 ** 31 - 1).optional().describe('Drawn at random and echoed when absent'),
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
    for (const problem of crossFieldProblems(spec)) ctx.addIssue({ code: 'custom', ...problem });
  })
  .meta({ id: 'JobSpec' });
export type JobSpec = z.infer<typeof jobSpecSchema>;
export type JobSpecInput = z.input<typeof jobSpecSchema>;

/** The spec as it runs: every default filled in, the optimizer spelt out, the seed fixed. */
export const resolvedJobSpecSchema = z
  .strictObject({
    ...jobSpecFields,
    optimizer: optimizerConfigSchema,
    learningRate: z.number().positive(),
    seed: z.int().min(0).max(2 ** 31 - 1),
  })
  .meta({ id: 'ResolvedJobSpec' });
export type ResolvedJobSpec = z.infer<typeof resolvedJobSpecSchema>;

export function resolveJobSpec(spec: JobSpec, drawSeed: () => number = () => randomInt(0, 2 ** 31 - 1)): ResolvedJobSpec {
  const optimizer = typeof spec.optimizer === 'string' ? optimizerConfigSchema.parse({ type: spec.optimizer }) : spec.optimizer;
  return {
    ...spec,
    optimizer,
    learningRate: spec.learningRate ?? defaultLearningRates[optimizer.type],
    seed: spec.seed ?? drawSeed(),
  };
}

interface Problem {
  path: (string | number)[];
  message: string;
}

/** Checks that need more than one field (or the data set's shape), so they run after the field checks. */
function crossFieldProblems(spec: z.infer<typeof jobSpecObject>): Problem[] {
  const problems: Problem[] = [];
  const info = builtInDatasets[spec.dataset.name];
  const rows = Math.min(spec.dataset.limit ?? info.rows, info.rows);
  if (spec.dataset.limit !== undefined && spec.dataset.limit > info.rows) {
    problems.push({ path: ['dataset', 'limit'], message: `${spec.dataset.name} has only ${info.rows} rows` });
  }
  const validationRows = Math.floor(rows * spec.validationSplit);
  const trainRows = rows - validationRows;
  if (trainRows < 1) {
    problems.push({ path: ['validationSplit'], message: `leaves no training rows out of ${rows}` });
  } else if (spec.batchSize > trainRows) {
    problems.push({
      path: ['batchSize'],
      message: `is larger than the ${trainRows} training rows (${rows} rows, validationSplit ${spec.validationSplit})`,
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
        message: `the output layer needs ${info.classes} units, one per class of ${spec.dataset.name}, not ${output.units}`,
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
