import { z } from 'zod';
import { builtInDatasetNames, builtInDatasets } from '../engine/datasets/catalog.js';
import { startToken } from '../engine/datasets/sequences.js';
import { textOptionsSchema } from './text-spec.js';

/** The data set part of the job spec: built-in, synthetic and uploaded sets, and their shapes. */

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
    text: textOptionsSchema
      .optional()
      .describe('A text upload only (uploaded with `text`): how its texts become token ids; every default is filled in when the job is submitted'),
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

const seq2seqDatasetRefSchema = z
  .strictObject({
    name: z.literal('seq2seq'),
    rows,
    task: z.enum(['copy', 'reverse', 'sort']).default('reverse').describe('The target: the source as it is, reversed, or sorted'),
    symbols: z.int().min(1).max(1000).default(10).describe('Alphabet: symbols 1 … symbols; 0 is padding, symbols + 1 the start token'),
    length: z.int().min(2).max(1000).default(8).describe('L: symbols per source and per target'),
    view: z
      .enum(['pairs', 'source', 'target'])
      .default('pairs')
      .describe(
        'pairs: input [source; start, target shifted right] (2L token ids) for an encoder–decoder with teacher forcing, labels the target; ' +
          'source / target: a language model over one side (input [start, sequence shifted right], labels the sequence), to pretrain an encoder or a decoder',
      ),
    seed: dataSeed,
  })
  .meta({
    id: 'Seq2seqDatasetRef',
    description:
      'Sequence to sequence: sources of L symbols and their copy, reversal or sorted order, as token ids; a class per target step ([L, symbols + 1] output). ' +
      'POST /v1/jobs/{id}/predict on a pairs job takes sources and decodes greedily',
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
  seq2seq: seq2seqDatasetRefSchema,
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
    seq2seqDatasetRefSchema,
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
  /** A seq2seq pairs set: predict takes a source of this many tokens and decodes the target greedily. */
  decodes?: { sourceLength: number; startToken: number };
  /** Rows the data set holds out itself as a fixed test set (counted in `rows`). */
  fixedTestRows?: number;
  /** Rows the data set holds out itself as a fixed validation set (an upload's val/ folder; counted in `rows`). */
  fixedValidationRows?: number;
  /** An upload above TRAINING_IN_MEMORY_BYTES: its feature rows are read from disk a batch at a time, never held whole. */
  streamed?: { featureBytes: number; inMemoryBytes: number };
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
    case 'seq2seq': {
      const steps = ref.view === 'pairs' ? 2 * ref.length : ref.length;
      return {
        rows: ref.rows,
        featureSize: steps,
        classes: ref.symbols + 1,
        inputShape: [steps],
        outputShape: [ref.length, ref.symbols + 1],
        vocabulary: ref.symbols + 2,
        ...(ref.view === 'pairs' ? { decodes: { sourceLength: ref.length, startToken: startToken(ref.symbols) } } : {}),
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
