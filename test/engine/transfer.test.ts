import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import type { CheckpointData } from '../../src/engine/checkpoint-data.js';
import { describeDataset } from '../../src/spec/dataset-spec.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import { type LayerSpec } from '../../src/spec/layer-spec.js';
import { planTransfer, type SourceCheckpoint, type TransferPlan } from '../../src/spec/transfer-plan.js';
import { testBackend } from '../support/test-backend.js';
import { collectRun, epochMetrics, weightsByName, type CollectedRun } from '../support/training-run.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

const SOURCE_JOB = '0193a1b2-0000-7000-8000-000000000001';
const SOURCE_CHECKPOINT = '0193a1b2-0000-7000-8000-000000000002';

const cnn = (head = 'head'): LayerSpec[] => [
  { type: 'conv2d', name: 'conv1', filters: 8, kernelSize: 5, strides: 1, padding: 'valid', activation: 'relu', useBias: true },
  { type: 'maxPool2d', name: 'pool1', poolSize: 2, padding: 'valid' },
  { type: 'conv2d', name: 'conv2', filters: 16, kernelSize: 3, strides: 1, padding: 'valid', activation: 'relu', useBias: true },
  { type: 'maxPool2d', name: 'pool2', poolSize: 2, padding: 'valid' },
  { type: 'flatten', name: 'flat' },
  { type: 'dense', name: head, units: 5, activation: 'softmax', useBias: true },
];

const digits = (classes: number[], limit: number, extra: Partial<JobSpecInput> = {}): JobSpecInput => ({
  dataset: { name: 'mnist', shape: 'image', classes, limit },
  model: { layers: cnn() },
  epochs: 3,
  batchSize: 32,
  learningRate: 0.01,
  seed: 1,
  logEveryBatches: 0,
  ...extra,
});

const sourceOf = (checkpoint: CheckpointData): SourceCheckpoint => ({
  job: SOURCE_JOB,
  checkpoint: SOURCE_CHECKPOINT,
  weights: Object.fromEntries(checkpoint.model.weightSpecs.map((w) => [w.name, w.shape])),
});

function plan(input: JobSpecInput, source: SourceCheckpoint): TransferPlan | { problems: { path: (string | number)[]; message: string }[] } {
  const spec = jobSpecSchema.parse(input);
  return planTransfer(spec, describeDataset(spec.dataset)!, source);
}

/** A layer's weights, concatenated in save order. */
const weightsOf = (checkpoint: CheckpointData, layer: string): number[] =>
  Object.entries(weightsByName(checkpoint.model)).flatMap(([name, values]) => (name.startsWith(`${layer}/`) ? values : []));

describe('transfer from a CNN pretrained on digits 0–4 to digits 5–9', () => {
  let pretrained: CollectedRun;
  beforeAll(async () => {
    pretrained = await collectRun(resolveJobSpec(jobSpecSchema.parse(digits([0, 1, 2, 3, 4], 3000))), backend);
    expect(pretrained.error).toBeUndefined();
  });

  it('with frozen convolutions reaches 93 % validation accuracy in fewer epochs than from scratch, and the frozen layers do not change', async () => {
    const source = pretrained.checkpoints.at(-1)!;
    // A fresh head: the old one maps digits 0–4, so it takes another name and is not loaded.
    const target = digits([5, 6, 7, 8, 9], 300, { epochs: 4, model: { layers: cnn('head59') } });
    const planned = plan({ ...target, init: { from: { job: SOURCE_JOB }, freeze: { upTo: 'pool2' } } }, sourceOf(source));
    if ('problems' in planned) throw new Error(JSON.stringify(planned.problems));
    expect(planned.init).toMatchObject({ mode: 'finetune', loaded: ['conv1', 'conv2'], frozen: ['conv1', 'pool1', 'conv2', 'pool2'] });
    expect(planned.init.reason).toContain('trained from scratch head59');

    const transferred = await collectRun(resolveJobSpec(jobSpecSchema.parse({ ...target, init: { from: { job: SOURCE_JOB } } }), { transfer: planned }), backend, { initFrom: source });
    const scratch = await collectRun(resolveJobSpec(jobSpecSchema.parse(target)), backend);
    expect(transferred.error).toBeUndefined();
    const epochsTo = (run: CollectedRun, accuracy: number) => epochMetrics(run).findIndex((m) => m.val_accuracy! >= accuracy) + 1 || Infinity;
    const [fast, slow] = [epochsTo(transferred, 0.93), epochsTo(scratch, 0.93)];
    expect(fast).toBeLessThan(slow);

    const final = transferred.checkpoints.at(-1)!;
    expect(weightsOf(final, 'conv1')).toEqual(weightsOf(source, 'conv1'));
    expect(weightsOf(final, 'conv2')).toEqual(weightsOf(source, 'conv2'));
    // The new head did train.
    expect(weightsOf(final, 'head59')).not.toEqual(weightsOf(transferred.checkpoints[0]!, 'head59'));
    const event = transferred.events.find((e) => e.type === 'transfer');
    expect(event).toMatchObject({ loaded: ['conv1', 'conv2'], frozen: ['conv1', 'pool1', 'conv2', 'pool2'] });
  });

  it('a linear probe keeps the layers up to the cut, frozen, and puts a fresh output layer on top', () => {
    const planned = plan({ ...digits([5, 6, 7, 8, 9], 300, { model: { layers: cnn('head59') } }), init: { from: { job: SOURCE_JOB }, mode: 'linearProbe', cutAt: 'pool1' } }, sourceOf(pretrained.checkpoints.at(-1)!));
    if ('problems' in planned) throw new Error(JSON.stringify(planned.problems));
    expect(planned.layers.map((layer) => layer.name)).toEqual(['conv1', 'pool1', 'probe_flatten', 'head59']);
    expect(planned.init).toMatchObject({ mode: 'linearProbe', cutAt: 'pool1', loaded: ['conv1'], frozen: ['conv1', 'pool1'] });
  });

  it('transfer auto follows the four cases of the catalogue and says why', () => {
    const source = sourceOf(pretrained.checkpoints.at(-1)!);
    const auto = (limit: number, similarity: 'similar' | 'different') => {
      const planned = plan({ ...digits([5, 6, 7, 8, 9], limit, { model: { layers: cnn('head59') } }), init: { from: { job: SOURCE_JOB }, transfer: 'auto', similarity, smallDatasetRows: 1000 } }, source);
      if ('problems' in planned) throw new Error(JSON.stringify(planned.problems));
      return planned.init;
    };
    expect(auto(500, 'similar')).toMatchObject({ mode: 'linearProbe', cutAt: 'flat', reason: expect.stringContaining('small') });
    expect(auto(500, 'different')).toMatchObject({ mode: 'linearProbe', cutAt: 'pool1', reason: expect.stringContaining('lower-level') });
    expect(auto(3000, 'similar')).toMatchObject({ mode: 'finetune', frozen: [], reason: expect.stringContaining('fine-tune all layers') });
    expect(auto(3000, 'different')).toMatchObject({ mode: 'finetune', frozen: [] });
  });

  it('lists the layers whose shapes differ, and refuses to freeze a layer the source does not have', () => {
    const source = sourceOf(pretrained.checkpoints.at(-1)!);
    const wider = cnn().map((layer) => (layer.name === 'conv2' ? { ...layer, filters: 32 } : layer.name === 'head' ? { ...layer, units: 5 } : layer));
    const mismatch = plan({ ...digits([5, 6, 7, 8, 9], 300, { model: { layers: wider } }), init: { from: { job: SOURCE_JOB } } }, source);
    expect('problems' in mismatch && mismatch.problems).toEqual([
      { path: ['model', 'layers', 2], message: expect.stringMatching(/^layer conv2 does not match the source checkpoint's \(kernel \[3, 3, 8, 16\] there, \[3, 3, 8, 32\] here; bias \[16\] there, \[32\] here\)/) },
      { path: ['model', 'layers', 5], message: expect.stringMatching(/^layer head does not match .*kernel \[400, 5\] there, \[800, 5\] here/) },
    ]);
    const renamed = cnn().map((layer) => (layer.name === 'conv2' ? { ...layer, name: 'conv2b' } : layer));
    const frozenFresh = plan({ ...digits([5, 6, 7, 8, 9], 300, { model: { layers: renamed } }), init: { from: { job: SOURCE_JOB }, freeze: { layers: ['conv2b'] } } }, source);
    expect('problems' in frozenFresh && frozenFresh.problems).toEqual([
      { path: ['init', 'freeze'], message: 'layer conv2b would be frozen at random weights: it is not in the source checkpoint' },
    ]);
  });
});

describe('init checks that need only the spec', () => {
  const problems = (init: object) => {
    const result = jobSpecSchema.safeParse({ ...digits([5, 6, 7, 8, 9], 100), init: { from: { job: SOURCE_JOB }, ...init } });
    return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  };

  it('name the layer that does not exist and the options that do not fit', () => {
    expect(problems({ freeze: { layers: ['conv9'] } })).toEqual(['init.freeze.layers.0: no layer named conv9']);
    expect(problems({ freeze: { upTo: 12 } })).toEqual(['init.freeze.upTo: no layer at index 12']);
    expect(problems({ mode: 'linearProbe', cutAt: 'head' })).toEqual(['init.cutAt: layer 5 is not a hidden layer: the cut goes before the output layer (5)']);
    expect(problems({ transfer: 'auto' })).toEqual(["init.similarity: transfer auto needs to know whether the new data set is similar to the source job's or different"]);
    expect(problems({ cutAt: 'pool1' })).toEqual(['init.cutAt: only used with mode linearProbe']);
  });
});
