import { randomInt } from 'node:crypto';
import { z } from 'zod';
import {
  defaultLearningRates,
  optimizerConfigSchema,
  optimizerRefSchema,
  resolveOptimizer,
  type OptimizerConfig,
} from './optimizer-spec.js';
import { adviceCodes } from './advice/codes.js';
import { augmentationSchema } from './augmentation-spec.js';
import { datasetRefSchema, describeDataset } from './dataset-spec.js';
import { distributedSchema } from './distributed-spec.js';
import { initSchema, resolvedInitSchema, type ResolvedInit } from './init-spec.js';
import { checkpointRef, modelSchema, type LayerSpec } from './layer-spec.js';
import { lossSchema, resolvedLossSchema, resolveLoss } from './loss-spec.js';
import { learningRateSchema, linearScalingSchema, resolveSchedule, type LearningRate } from './schedule-spec.js';
import { specProblems } from './spec-checks.js';

export { optimizerConfigSchema, type OptimizerConfig } from './optimizer-spec.js';

/**
 * The job spec: the one contract the API validates, the worker runs, the OpenAPI document shows
 * and clients are generated from. Every object is strict, so a misspelt field is an error
 * rather than a silently ignored option. Its parts: layers and the model (layer-spec.ts), data
 * sets (dataset-spec.ts), the run's rows and steps (run-shape.ts), cross-field checks
 * (spec-checks.ts); here the fields, the schema and its resolution.
 */

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

export { initSchema, initSources, resolvedInitSchema, type InitSourceRef, type ResolvedInit } from './init-spec.js';

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
  augmentation: augmentationSchema.optional(),
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
