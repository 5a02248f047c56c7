import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import type { CheckpointData } from '../../src/engine/checkpoint-data.js';
import { dropoutSites } from '../../src/engine/mc-dropout.js';
import { buildModel, buildObjective } from '../../src/engine/model-builder.js';
import { describeDataset } from '../../src/spec/dataset-spec.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import type { LayerSpec } from '../../src/spec/layer-spec.js';
import { planTransfer } from '../../src/spec/transfer-plan.js';
import { testBackend } from '../support/test-backend.js';
import { collectRun, epochMetrics, resolveSpec, weightsByName, type CollectedRun } from '../support/training-run.js';

/** Graph models (layers naming their inputs) under the techniques that hold for stacks: heads, exact resume, transfer by name, penalties, strategies. */

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

/** A residual block: conv–BN–relu–conv–BN, added to its input, then relu. */
const residualBlock = (name: string, input: string, filters: number): LayerSpec[] => [
  { type: 'conv2d', name: `${name}_conv1`, inputs: [input], filters, kernelSize: 3, strides: 1, padding: 'same', activation: 'linear', useBias: false },
  { type: 'batchNormalization', name: `${name}_bn1`, momentum: 0.9, epsilon: 0.001, center: true, scale: true },
  { type: 'activation', name: `${name}_relu1`, activation: 'relu' },
  { type: 'conv2d', name: `${name}_conv2`, filters, kernelSize: 3, strides: 1, padding: 'same', activation: 'linear', useBias: false },
  { type: 'batchNormalization', name: `${name}_bn2`, momentum: 0.9, epsilon: 0.001, center: true, scale: true },
  { type: 'add', name: `${name}_sum`, inputs: [input, `${name}_bn2`] },
  { type: 'activation', name, activation: 'relu' },
];

const resnet = (extra: Partial<JobSpecInput> = {}): JobSpecInput => ({
  dataset: { name: 'mnist', shape: 'image', limit: 320 },
  model: {
    layers: [
      { type: 'conv2d', name: 'stem', filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' },
      ...residualBlock('block1', 'stem', 6),
      { type: 'dropout', name: 'drop', rate: 0.2 },
      { type: 'globalAvgPool', name: 'pool' },
      { type: 'dense', name: 'head', units: 10, activation: 'softmax' },
    ],
    auxiliaryHeads: [{ after: 'block1_relu1', weight: 0.3 }],
  },
  epochs: 2,
  batchSize: 32,
  learningRate: 0.01,
  optimizer: 'adam',
  seed: 3,
  logEveryBatches: 1,
  ...extra,
});

const transformer = (extra: Partial<JobSpecInput> = {}): JobSpecInput => ({
  dataset: { name: 'copy', symbols: 4, length: 3, delay: 2, inputs: 'tokens', rows: 256 },
  model: {
    layers: [
      { type: 'embedding', name: 'emb', inputDim: 6, outputDim: 16 },
      { type: 'positionalEmbedding', name: 'pos', mode: 'learned' },
      { type: 'transformerEncoder', name: 'enc', numHeads: 2, ffDim: 32, dropout: 0.1, causal: true },
      { type: 'multiHeadAttention', name: 'mix', numHeads: 2, keyDim: 8, dropout: 0.1, causal: true, inputs: ['enc', 'pos'] },
      { type: 'concatenate', name: 'both', inputs: ['enc', 'mix'] },
      { type: 'dense', name: 'out', units: 5 },
    ],
  },
  epochs: 2,
  batchSize: 32,
  learningRate: 0.005,
  optimizer: 'adam',
  seed: 4,
  logEveryBatches: 1,
  regularization: { l2: 0.0001 },
  ...extra,
});

const finalWeights = (run: CollectedRun) => new Float32Array(run.checkpoints.find((c) => c.reason === 'final')!.model.weightData);
const maxDiff = (a: Float32Array, b: Float32Array) => {
  expect(a.length).toBe(b.length);
  return a.reduce((max, v, i) => Math.max(max, Math.abs(v - b[i]!)), 0);
};
const weightsOf = (checkpoint: CheckpointData, layer: string) =>
  Object.entries(weightsByName(checkpoint.model)).flatMap(([name, values]) => (name.startsWith(`${layer}/`) ? values : []));

describe('graph models', () => {
  it.each([
    ['a residual network with batch norm, dropout and an auxiliary head', resnet()],
    ['a transformer with attention dropout, a cross-attention and a merge', transformer()],
  ] as const)('%s: learns, and resumes mid-epoch exactly', async (_what, input) => {
    const spec = resolveSpec(input);
    const straight = await collectRun(spec, backend);
    expect(straight.error).toBeUndefined();
    const losses = epochMetrics(straight).map((m) => m.loss!);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);

    const first = await collectRun(spec, backend, { stopAt: (e) => e.type === 'batchMetrics' && e.step === 5 });
    const paused = first.checkpoints.at(-1)!;
    expect(paused.reason).toBe('pause');
    const second = await collectRun(spec, backend, { resumeFrom: paused });
    expect(second.error).toBeUndefined();
    expect(maxDiff(finalWeights(second), finalWeights(straight))).toBe(0);
    const batches = (runs: CollectedRun[]) => runs.flatMap((run) => run.events.filter((e) => e.type === 'batchMetrics'));
    expect(batches([first, second])).toEqual(batches([straight]));
  });

  it("reports the auxiliary head's loss on a graph node", async () => {
    const run = await collectRun(resolveSpec(resnet({ epochs: 1 })), backend);
    expect(epochMetrics(run)[0]).toHaveProperty('aux_block1_relu1_loss');
  });

  it('penalises every kernel of the attention family, and MC dropout sees their dropout', () => {
    const spec = resolveSpec(transformer());
    const built = buildModel(spec, [describeDataset(spec.dataset)!.inputShape![0]!]);
    const penalised = buildObjective(spec, built).weightPenalties.map((p) => p.variable.name);
    // 6 kernels in the encoder block (4 attention, 2 feed-forward), 4 in the attention layer, the output layer's 1.
    expect(penalised).toHaveLength(11);
    expect(penalised.filter((name) => name.includes('bias'))).toEqual([]);
    expect(dropoutSites(spec).map((site) => site.field)).toEqual(['model.layers[2].dropout', 'model.layers[3].dropout']);
    built.model.dispose();
  });

  it('transfers by node name: frozen nodes keep the source weights, a renamed head trains from scratch', async () => {
    const source = await collectRun(resolveSpec(resnet({ epochs: 1, model: { ...resnet().model, auxiliaryHeads: [] } })), backend);
    const checkpoint = source.checkpoints.at(-1)!;
    const layers = resnet().model.layers.map((layer) => (layer.name === 'head' ? { ...layer, name: 'head2' } : layer));
    const target = { ...resnet({ epochs: 1 }), model: { layers } };
    const parsed = jobSpecSchema.parse({ ...target, init: { from: { job: '0193a1b2-0000-7000-8000-000000000001' }, freeze: { layers: ['stem', 'block1_conv1', 'block1_bn1'] } } });
    const planned = planTransfer(parsed, describeDataset(parsed.dataset)!, {
      job: '0193a1b2-0000-7000-8000-000000000001',
      checkpoint: '0193a1b2-0000-7000-8000-000000000002',
      weights: Object.fromEntries(checkpoint.model.weightSpecs.map((w) => [w.name, w.shape])),
    });
    if ('problems' in planned) throw new Error(JSON.stringify(planned.problems));
    expect(planned.init.loaded).toEqual(['stem', 'block1_conv1', 'block1_bn1', 'block1_conv2', 'block1_bn2']);
    const run = await collectRun(resolveJobSpec(parsed, { transfer: planned }), backend, { initFrom: checkpoint });
    expect(run.error).toBeUndefined();
    const final = run.checkpoints.at(-1)!;
    for (const frozen of ['stem', 'block1_conv1']) expect(weightsOf(final, frozen)).toEqual(weightsOf(checkpoint, frozen));
    expect(weightsOf(final, 'block1_conv2')).not.toEqual(weightsOf(checkpoint, 'block1_conv2'));
  });

  it('trains data-parallel: two synchronous threads equal one worker with twice the batch', async () => {
    const small = (extra: Partial<JobSpecInput>) => resnet({ dataset: { name: 'mnist', shape: 'image', limit: 128 }, epochs: 1, optimizer: 'sgd', logEveryBatches: 0, ...extra });
    // Batch norm keeps statistics per thread, so it has no place in a distributed run; dropout draws per thread.
    const plain = (input: JobSpecInput): JobSpecInput => ({
      ...input,
      model: { layers: input.model.layers.filter((layer) => layer.type !== 'dropout' && layer.type !== 'batchNormalization').map((layer) => rewire(layer)) },
    });
    const rewire = (layer: LayerSpec | JobSpecInput['model']['layers'][number]) =>
      layer.name === 'block1_relu1' ? { ...layer, inputs: ['block1_conv1'] } : layer.name === 'block1_sum' ? { ...layer, inputs: ['stem', 'block1_conv2'] } : layer.name === 'pool' ? { ...layer, inputs: ['block1'] } : layer;
    const distributed = await collectRun(resolveSpec(plain(small({ batchSize: 16, distributed: { strategy: 'sync', workers: 2 } }))), backend);
    expect(distributed.error).toBeUndefined();
    const single = await collectRun(resolveSpec(plain(small({ batchSize: 32 }))), backend);
    const [a, b] = [finalWeights(distributed), finalWeights(single)];
    expect(maxDiff(a, b)).toBeLessThan(1e-4);
  });
});
