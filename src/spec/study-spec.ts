import { z } from 'zod';
import { jobSpecSchema } from './job-spec.js';

/**
 * A hyperparameter study: a base job spec, a space over its fields by path, an objective and a
 * search algorithm (docs/studies.md). Every trial is an ordinary job whose spec is the base with
 * the trial's values put at their paths.
 */

/** `learningRate`, `optimizer.momentum`, `model.layers[1].rate`: object keys and array indexes. */
export const PARAM_PATH = /^[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*|\[\d{1,3}\])*$/;

const uniformSchema = z
  .strictObject({ type: z.literal('uniform'), low: z.number(), high: z.number() })
  .meta({ id: 'UniformParam', description: 'A real number drawn uniformly from [low, high]' });
const logUniformSchema = z
  .strictObject({ type: z.literal('logUniform'), low: z.number().positive(), high: z.number().positive() })
  .meta({ id: 'LogUniformParam', description: 'A positive real number whose logarithm is uniform on [log low, log high] (learning rates)' });
const intSchema = z
  .strictObject({
    type: z.literal('int'),
    low: z.int(),
    high: z.int(),
    log: z.boolean().default(false).describe('Draw log-uniformly (batch sizes, widths): needs low ≥ 1'),
  })
  .meta({ id: 'IntParam', description: 'An integer from low to high, both included' });
const choiceSchema = z
  .strictObject({
    type: z.literal('choice'),
    values: z.array(z.unknown()).min(1).max(100).describe('Any JSON values: numbers, names ("adam"), whole configs ({"type": "momentum", "momentum": 0.9})'),
  })
  .meta({ id: 'ChoiceParam', description: 'One of the values, each equally likely; grid search takes every one' });

export const searchParamSchema = z.discriminatedUnion('type', [uniformSchema, logUniformSchema, intSchema, choiceSchema]).meta({ id: 'SearchParam' });
export type SearchParam = z.infer<typeof searchParamSchema>;

export const searchSpaceSchema = z
  .record(
    z
      .string()
      .regex(PARAM_PATH, 'must be a path into the job spec: keys joined by dots, list items as [i] (model.layers[1].rate)')
      .refine((path) => !/(?:^|\.)(?:constructor|prototype)(?=\.|\[|$)/.test(path), 'names no job spec field: constructor and prototype are not keys of a spec'),
    searchParamSchema,
  )
  .refine((space) => Object.keys(space).length >= 1 && Object.keys(space).length <= 20, 'needs 1 to 20 parameters')
  .describe('The parameters searched, by their path in the job spec; every point must be a valid job spec')
  .meta({ id: 'SearchSpace' });
export type SearchSpace = z.infer<typeof searchSpaceSchema>;

export const objectiveMetrics = ['val_accuracy', 'val_loss', 'val_mae', 'accuracy', 'loss', 'mae'] as const;
export type ObjectiveMetric = (typeof objectiveMetrics)[number];

export const objectiveSchema = z
  .strictObject({
    metric: z.enum(objectiveMetrics).describe("An epoch metric of the trials' jobs; val_* need a validation split"),
    mode: z.enum(['max', 'min']).optional().describe('Whether higher is better; defaults to min for losses and mae, max for accuracy'),
  })
  .meta({ id: 'StudyObjective' });

const gridSchema = z.strictObject({ type: z.literal('grid') }).meta({ id: 'GridSearch', description: 'Every combination of the choice parameters, each trained to the end' });
const randomSchema = z.strictObject({ type: z.literal('random') }).meta({ id: 'RandomSearch', description: 'maxTrials seeded draws from the space, each trained to the end' });
const ashaSchema = z
  .strictObject({
    type: z.literal('asha'),
    reductionFactor: z.int().min(2).max(10).default(3).describe('η: a rung keeps its top 1/η for the next rung, which trains η× as many epochs'),
    minEpochs: z.int().min(1).max(10_000).default(1).describe('The first rung: every trial trains this many epochs before it is judged'),
    maxEpochs: z.int().min(1).max(10_000).optional().describe("The most epochs a trial trains (the base spec's epochs when absent; it sets each trial's epochs)"),
    brackets: z.int().min(1).max(5).default(1).describe('Brackets of successive halving, each starting η× later than the one before; trials go to them in turn'),
  })
  .meta({
    id: 'AshaSearch',
    description:
      'Asynchronous successive halving (Li et al. 2018): each trial pauses at each rung; a paused trial in the top 1/η of its rung is promoted, continuing from its checkpoint; the others are stopped once they can no longer be promoted',
  });
const pbtSchema = z
  .strictObject({
    type: z.literal('pbt'),
    population: z.int().min(2).max(64).default(8).describe('Trials trained side by side (maxTrials does not apply)'),
    perturbationInterval: z.int().min(1).max(10_000).default(1).describe('Epochs between two looks at the population'),
    quantileFraction: z.number().gt(0).max(0.5).default(0.25).describe("A trial in the bottom fraction copies a top-fraction trial's checkpoint (exploit)"),
    resampleProbability: z.number().min(0).max(1).default(0.25).describe('On explore, each parameter is drawn again from the space with this probability, else perturbed'),
    perturbationFactors: z
      .tuple([z.number().positive(), z.number().positive()])
      .default([1.2, 0.8])
      .describe('A perturbed real parameter is multiplied by one of these (a choice moves to a neighbouring value)'),
  })
  .meta({
    id: 'PbtSearch',
    description:
      "Population-based training (Jaderberg et al. 2017), asynchronous as Ray Tune's: at every interval a trial in the bottom quantile takes a top trial's weights and optimizer state and explores new values",
  });

export const searchAlgorithmSchema = z.discriminatedUnion('type', [gridSchema, randomSchema, ashaSchema, pbtSchema]).meta({ id: 'SearchAlgorithm' });
export type SearchAlgorithm = z.infer<typeof searchAlgorithmSchema>;

export const studySpecSchema = z
  .strictObject({
    name: z.string().min(1).max(200).optional(),
    base: jobSpecSchema.describe("The job spec every trial starts from; the space's values are put at their paths"),
    space: searchSpaceSchema,
    objective: objectiveSchema,
    algorithm: searchAlgorithmSchema,
    maxTrials: z.int().min(1).max(1000).optional().describe('Trials started at most (grid: its size when absent; random and asha: 20; pbt: the population)'),
    maxConcurrentTrials: z.int().min(1).max(64).default(2).describe('Trials training or queued at once'),
    budget: z
      .strictObject({
        trialEpochs: z.int().min(1).max(10_000_000).optional().describe('Epochs all trials together may train; no trial starts or continues past it'),
        seconds: z.int().min(1).max(31_536_000).optional().describe('Wall-clock seconds from the study start; no trial starts or continues after it'),
      })
      .default({})
      .meta({ id: 'StudyBudget' }),
    seed: z.int().min(0).max(2 ** 31 - 1).optional().describe('Seeds the draws (and trials without their own seed): the same seed gives the same trials'),
  })
  .meta({ id: 'StudySpec' });
export type StudySpec = z.infer<typeof studySpecSchema>;
export type StudySpecInput = z.input<typeof studySpecSchema>;

/** The study as it runs: every default filled in, as the API echoes it. */
export const resolvedStudySpecSchema = z
  .object({
    name: z.string().optional(),
    base: z.record(z.string(), z.unknown()).describe('The base job spec as submitted (defaults filled in)'),
    space: searchSpaceSchema,
    objective: z.object({ metric: z.enum(objectiveMetrics), mode: z.enum(['max', 'min']) }),
    algorithm: searchAlgorithmSchema,
    maxTrials: z.int(),
    maxConcurrentTrials: z.int(),
    maxEpochs: z.int().describe('Epochs of a trial trained to the end'),
    budget: z.object({ trialEpochs: z.int().optional(), seconds: z.int().optional() }),
    seed: z.int(),
  })
  .meta({ id: 'ResolvedStudySpec' });
export type ResolvedStudySpec = z.infer<typeof resolvedStudySpecSchema>;

/** Lower is better for losses and errors, higher for accuracy. */
export const defaultModeOf = (metric: ObjectiveMetric): 'max' | 'min' => (metric.endsWith('accuracy') ? 'max' : 'min');
