import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { DistributedSpec } from '../../spec/distributed-spec.js';
import type { ResolvedJobSpec } from '../../spec/job-spec.js';
import type { SelectedBackend } from '../backend.js';
import { inMemoryRows, type Split } from '../dataset-split.js';
import type { BuiltModel } from '../model-builder.js';
import { allocateSharedBuffers, SharedMemoryTransport, weightLayout } from './parameter-transport.js';
import { ShardedOptimizer } from './sharded-optimizer.js';
import { TrainingThreads } from './training-threads.js';
import { WorkerStats } from './worker-stats.js';

/** A distributed run's threads and the shared memory they train against. */
export interface Distribution {
  spec: DistributedSpec;
  /** N: gradients a sync step averages; threads of async and hogwild. */
  workers: number;
  threads: TrainingThreads;
  transport: SharedMemoryTransport;
  stats: WorkerStats;
  /** The parameter server's shards, as indices of trainable variables. */
  shards: number[][];
  /** One thread alone, timed at start: the baseline of the speed-up each epoch reports. */
  soloSamplesPerSecond: number;
}

/** "auto" takes the cores this process may use, capped by `maxThreads`. */
export function resolveWorkers(spec: DistributedSpec, maxThreads = os.availableParallelism()): number {
  return spec.workers === 'auto' ? Math.max(1, Math.min(os.availableParallelism(), maxThreads)) : spec.workers;
}

async function share(tensor: tf.Tensor): Promise<{ buffer: SharedArrayBuffer; shape: number[] }> {
  const values = await tensor.data();
  const buffer = new SharedArrayBuffer(values.length * 4);
  (tensor.dtype === 'int32' ? new Int32Array(buffer) : new Float32Array(buffer)).set(values);
  return { buffer, shape: tensor.shape };
}

export async function startDistribution(
  spec: ResolvedJobSpec,
  distributed: DistributedSpec,
  built: BuiltModel,
  split: Split,
  options: { backend: SelectedBackend; maxThreads?: number },
): Promise<Distribution> {
  const workers = resolveWorkers(distributed, options.maxThreads);
  const count = distributed.strategy === 'sync' ? workers + distributed.backupWorkers : workers;
  const weights = built.training.weights;
  const trainable = new Set(built.training.trainableWeights);
  const trainableIndices = weights.flatMap((w, i) => (trainable.has(w) ? [i] : []));
  const shards = ShardedOptimizer.partition(
    trainableIndices.map((i) => (weights[i]!.shape as number[]).reduce((a, b) => a * b, 1)),
    distributed.strategy === 'async' ? distributed.parameterShards : 1,
  );
  const layout = weightLayout(
    weights.map((w) => w.shape as number[]),
    trainableIndices,
    shards,
  );
  const buffers = allocateSharedBuffers(layout);
  const [trainX, trainY] = [inMemoryRows(split, 'trainX', 'distributed training'), inMemoryRows(split, 'trainY', 'distributed training')];
  const threads = await TrainingThreads.start(count, {
    spec,
    backend: options.backend.name,
    inputShape: split.inputShape,
    regression: built.regression,
    layout,
    buffers,
    trainX: await share(trainX),
    trainY: { ...(await share(trainY)), dtype: trainY.dtype === 'int32' ? 'int32' : 'float32' },
    preprocessing: split.preprocessing,
  });
  return {
    spec: distributed,
    workers,
    threads,
    transport: new SharedMemoryTransport(layout, buffers),
    stats: new WorkerStats(count),
    shards,
    soloSamplesPerSecond: await soloRate(threads, Math.min(spec.batchSize, split.trainRows)),
  };
}

/** Samples/s of one thread computing gradients alone, message round trips included (after a warm-up task). */
async function soloRate(threads: TrainingThreads, batch: number): Promise<number> {
  const rows = Int32Array.from({ length: batch }, (_, i) => i);
  const task = () => threads.run(0, { type: 'gradient', id: threads.newTaskId(), step: 0, rows, headWeights: [] });
  await task();
  const started = performance.now();
  for (let i = 0; i < 3; i++) await task();
  return (3 * batch * 1000) / (performance.now() - started);
}
