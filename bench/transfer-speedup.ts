import { selectBackend } from '../src/engine/backend.js';
import { namedWeights, type CheckpointData } from '../src/engine/checkpoint-data.js';
import type { MetricValues } from '../src/engine/events.js';
import { runTraining } from '../src/engine/trainer.js';
import { describeDataset } from '../src/spec/dataset-spec.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../src/spec/job-spec.js';
import { type LayerSpec } from '../src/spec/layer-spec.js';
import { planTransfer } from '../src/spec/transfer-plan.js';

export interface TransferRow {
  rows: number;
  start: 'transferred (frozen convolutions)' | 'from scratch';
  accuracies: number[];
  samplesPerSecond: number;
}

/** Layers named so that init.from matches them: the head's name decides whether the source's head loads. */
export const cnn = (head: string): JobSpecInput['model']['layers'] => [
  { type: 'conv2d', name: 'conv1', filters: 8, kernelSize: 5, activation: 'relu' },
  { type: 'maxPool2d', name: 'pool1' },
  { type: 'conv2d', name: 'conv2', filters: 16, kernelSize: 3, activation: 'relu' },
  { type: 'maxPool2d', name: 'pool2' },
  { type: 'flatten', name: 'flat' },
  { type: 'dense', name: head, units: 5, activation: 'softmax' },
];

const digits = (classes: number[], limit: number, head: string, epochs: number): JobSpecInput => ({
  dataset: { name: 'mnist', shape: 'image', classes, limit },
  model: { layers: cnn(head) },
  epochs,
  batchSize: 32,
  learningRate: 0.01,
  seed: 1,
  logEveryBatches: 0,
});

async function train(input: JobSpecInput, init?: { from: CheckpointData; layers: LayerSpec[] } & ReturnType<typeof planOf>) {
  const spec = jobSpecSchema.parse(input);
  const metrics: MetricValues[] = [];
  const rates: number[] = [];
  const checkpoints: CheckpointData[] = [];
  await runTraining(
    resolveJobSpec(spec, init ? { transfer: { init: init.init, layers: init.layers } } : {}),
    {
      emit: (event) => {
        if (event.type !== 'epochMetrics') return;
        metrics.push(event.values);
        rates.push(event.samplesPerSecond);
      },
      checkpoint: (data) => checkpoints.push(data),
    },
    { backend: await selectBackend('wasm'), ...(init ? { initialWeights: [namedWeights(init.from)] } : {}) },
  );
  return { accuracies: metrics.map((m) => m.val_accuracy!), samplesPerSecond: rates.reduce((a, b) => a + b, 0) / rates.length, last: checkpoints.at(-1)! };
}

function planOf(input: JobSpecInput, source: CheckpointData) {
  const spec = jobSpecSchema.parse(input);
  const ids = { job: '00000000-0000-7000-8000-000000000001', checkpoint: '00000000-0000-7000-8000-000000000002' };
  const plan = planTransfer(spec, describeDataset(spec.dataset)!, { ...ids, weights: Object.fromEntries(source.model.weightSpecs.map((w) => [w.name, w.shape])) });
  if ('problems' in plan) throw new Error(JSON.stringify(plan.problems));
  return plan;
}

/**
 * TECHNIQUES.md 3's classic case: a CNN pretrained on MNIST digits 0–4 (3 000 rows, 3 epochs),
 * then digits 5–9 with its convolutions frozen and a fresh head, against the same model from
 * scratch, at two sizes of the new data set.
 */
export async function benchTransfer(epochs = 5, sizes = [300, 1000]): Promise<{ pretrainAccuracy: number; rows: TransferRow[] }> {
  const pretrained = await train(digits([0, 1, 2, 3, 4], 3000, 'head', 3));
  const rows: TransferRow[] = [];
  for (const size of sizes) {
    const target = digits([5, 6, 7, 8, 9], size, 'head59', epochs);
    const withInit = { ...target, init: { from: { job: '00000000-0000-7000-8000-000000000001' }, freeze: { upTo: 'pool2' } } } as JobSpecInput;
    const plan = planOf(withInit, pretrained.last);
    const transferred = await train(withInit, { from: pretrained.last, ...plan });
    const scratch = await train(target);
    rows.push({ rows: size, start: 'transferred (frozen convolutions)', ...transferred });
    rows.push({ rows: size, start: 'from scratch', ...scratch });
  }
  return { pretrainAccuracy: pretrained.accuracies.at(-1)!, rows };
}
