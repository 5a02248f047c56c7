import { z } from 'zod';

/**
 * Data-parallel training inside one job (TECHNIQUES.md 1.5): gradient computations run on
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
      .describe('Training threads; auto: the cores this worker may use (TRAINING_THREADS caps it)'),
    backupWorkers: z.int().min(0).max(16).default(0).describe('sync: extra gradient computations per step whose stragglers are dropped'),
    scaleLearningRate: z.boolean().default(false).describe('sync: multiply the rate by `workers` (the linear scaling rule, Goyal et al. 2017)'),
    maxStaleness: z.int().min(0).max(10_000).default(4).describe('async: reject a gradient computed more than this many updates ago'),
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
