import { selectBackend } from '../src/engine/backend.js';
import type { TrainingEvent } from '../src/engine/events.js';
import { runTraining } from '../src/engine/trainer.js';
import type { DistributedSpec } from '../src/spec/distributed-spec.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../src/spec/job-spec.js';

export interface DistributedRow {
  model: 'MLP' | 'CNN';
  strategy: string;
  threads: number;
  samplesPerSecond: number;
  speedup: number | null;
  valAccuracy: number;
  rejectedOrDropped: number;
}

const models: Record<DistributedRow['model'], { dataset: JobSpecInput['dataset']; layers: JobSpecInput['model']['layers']; epochs: number }> = {
  MLP: {
    dataset: { name: 'mnist', limit: 6000 },
    layers: [{ type: 'dense', units: 256, activation: 'relu' }, { type: 'dense', units: 256, activation: 'relu' }, { type: 'dense', units: 10 }],
    epochs: 3,
  },
  CNN: {
    dataset: { name: 'mnist', shape: 'image', limit: 3000 },
    layers: [{ type: 'conv2d', filters: 8, kernelSize: 5, activation: 'relu' }, { type: 'maxPool2d' }, { type: 'flatten' }, { type: 'dense', units: 10 }],
    epochs: 2,
  },
};

/**
 * Samples/s and the final validation accuracy of the same MNIST job on one thread and under each
 * strategy with two, so that speed is never bought with a worse model. Plain SGD everywhere
 * (hogwild applies SGD updates), the same rate and epochs; batchSize is per thread.
 */
export async function benchDistributed(threads = 2): Promise<DistributedRow[]> {
  const backend = await selectBackend('wasm');
  const strategies: (Pick<DistributedSpec, 'strategy'> & Partial<DistributedSpec>)[] = [
    { strategy: 'sync' },
    { strategy: 'sync', backupWorkers: 1, workers: threads - 1 },
    { strategy: 'async', maxStaleness: 4 },
    { strategy: 'hogwild' },
  ];
  const rows: DistributedRow[] = [];
  for (const [name, model] of Object.entries(models) as [DistributedRow['model'], (typeof models)['MLP']][]) {
    for (const distributed of [undefined, ...strategies]) {
      const events: TrainingEvent[] = [];
      const input: JobSpecInput = {
        dataset: model.dataset,
        model: { layers: model.layers },
        optimizer: 'sgd',
        learningRate: 0.05,
        epochs: model.epochs,
        batchSize: 64,
        seed: 1,
        logEveryBatches: 0,
        ...(distributed ? { distributed: { workers: threads, ...distributed } } : {}),
      };
      await runTraining(resolveJobSpec(jobSpecSchema.parse(input)), { emit: (event) => events.push(event) }, { backend });
      const epochs = events.flatMap((e) => (e.type === 'epochMetrics' ? [e] : []));
      const stats = events.flatMap((e) => (e.type === 'distributed' ? [e] : []));
      rows.push({
        model: name,
        strategy: distributed ? `${distributed.strategy}${distributed.backupWorkers ? ` (${distributed.workers} + ${distributed.backupWorkers} backup)` : ''}` : 'one thread',
        threads: distributed ? threads : 1,
        samplesPerSecond: epochs.reduce((sum, e) => sum + e.samplesPerSecond, 0) / epochs.length,
        speedup: stats.length ? stats.reduce((sum, e) => sum + e.speedup, 0) / stats.length : null,
        valAccuracy: epochs.at(-1)!.values.val_accuracy!,
        rejectedOrDropped: stats.flatMap((e) => e.threads).reduce((sum, t) => sum + t.rejected + t.dropped, 0),
      });
    }
  }
  return rows;
}
