import { z } from 'zod';
import type { JobSpecFields } from './job-spec.js';

/**
 * Data-parallel training inside one job (docs/techniques/optimization.md): gradient computations run on
 * training threads, each with its own TF.js backend, against parameters in shared memory.
 */
export const distributedSchema = z
  .strictObject({
    strategy: z
      .enum(['sync', 'async', 'hogwild'])
      .describe(
        'sync: each step averages the first `workers` of workers + backupWorkers gradients on disjoint shards (Chen et al. 2016); ' +
          'async: a parameter server applies each gradient as it arrives, rejecting those staler than maxStaleness (Dean et al. 2012); ' +
          'hogwild: every thread updates the shared parameters itself, without locks (Niu et al. 2011; sgd only)',
      ),
    workers: z
      .union([z.int().min(1).max(64), z.literal('auto')])
      .default('auto')
      .describe('Training threads; auto: the cores this worker may use (TRAINING_THREADS caps it). With backupWorkers, more than TRAINING_THREADS (by default the cores) is a 422 (docs/limits.md)'),
    backupWorkers: z.int().min(0).max(16).default(0).describe('sync: extra gradient computations per step whose stragglers are dropped'),
    scaleLearningRate: z.boolean().default(false).describe('sync: multiply the rate by `workers` (the linear scaling rule, Goyal et al. 2017)'),
    maxStaleness: z.int().min(0).max(10_000).default(4).describe('async: reject a gradient computed more than this many updates ago'),
    parameterShards: z
      .int()
      .min(1)
      .max(64)
      .default(1)
      .describe('async: the parameter server\'s shards, each with its own version and optimizer state; a gradient is applied to the shards it is fresh for'),
    rampUp: z
      .strictObject({ everySteps: z.int().min(1).max(1_000_000).describe('Start with one thread, add one every this many applied steps') })
      .optional()
      .describe('async and hogwild'),
  })
  .meta({
    id: 'Distributed',
    description: 'batchSize is per thread: a sync step takes workers × batchSize rows. Not with batch normalization (its running statistics are per thread)',
  });
export type DistributedSpec = z.infer<typeof distributedSchema>;

interface Problem {
  path: (string | number)[];
  message: string;
}

/** What a distributed run cannot do: running statistics per thread, hogwild's lock-free plain SGD. */
export function distributedProblems(spec: JobSpecFields): Problem[] {
  const distributed = spec.distributed;
  if (!distributed) return [];
  const problems: Problem[] = [];
  spec.model.layers.forEach((layer, index) => {
    if (layer.type === 'batchNormalization' || (layer.type === 'lstm' && layer.recurrentBatchNorm)) {
      problems.push({ path: ['model', 'layers', index], message: 'batch normalization keeps running statistics per thread: not available with distributed (layerNormalization is)' });
    }
  });
  if (spec.task === 'lrRangeTest') problems.push({ path: ['distributed'], message: 'an lrRangeTest runs on one thread' });
  if (distributed.strategy !== 'sync') {
    if (distributed.backupWorkers > 0) problems.push({ path: ['distributed', 'backupWorkers'], message: 'only sync has backup workers' });
    if (distributed.scaleLearningRate) problems.push({ path: ['distributed', 'scaleLearningRate'], message: 'only sync steps take workers × batchSize rows' });
  } else if (distributed.rampUp) {
    problems.push({ path: ['distributed', 'rampUp'], message: 'only async and hogwild ramp up' });
  }
  if (distributed.strategy !== 'async' && distributed.parameterShards > 1) {
    problems.push({ path: ['distributed', 'parameterShards'], message: 'only the async parameter server is sharded' });
  }
  if (distributed.strategy === 'hogwild') {
    const optimizer = spec.optimizer;
    const sgd = optimizer === 'sgd' || (typeof optimizer === 'object' && !Array.isArray(optimizer) && optimizer.type === 'sgd');
    if (!sgd) problems.push({ path: ['optimizer'], message: 'hogwild threads apply plain SGD updates to the shared weights: use sgd' });
    for (const field of ['clipNorm', 'gradientNoise'] as const) {
      if (spec[field] !== undefined) problems.push({ path: [field], message: 'not applied by hogwild threads (each updates the weights itself)' });
    }
    if (typeof optimizer === 'object' && !Array.isArray(optimizer) && optimizer.type === 'sgd' && optimizer.weightDecay) {
      problems.push({ path: ['optimizer', 'weightDecay'], message: 'not applied by hogwild threads (each updates the weights itself)' });
    }
    if (spec.regularization.maxNorm !== undefined) problems.push({ path: ['regularization', 'maxNorm'], message: 'not applied by hogwild threads (each updates the weights itself)' });
    spec.model.layers.forEach((layer, index) => {
      if ((layer.type === 'dense' || layer.type === 'conv2d') && layer.maxNorm !== undefined) {
        problems.push({ path: ['model', 'layers', index, 'maxNorm'], message: 'not applied by hogwild threads (each updates the weights itself)' });
      }
    });
  }
  if (typeof distributed.workers === 'number' && distributed.workers + distributed.backupWorkers > 64) {
    problems.push({ path: ['distributed', 'backupWorkers'], message: 'at most 64 threads in all' });
  }
  return problems;
}
