import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import type { CheckpointData } from '../../src/engine/checkpoint-data.js';
import { buildModel } from '../../src/engine/model-builder.js';
import { describeDataset } from '../../src/spec/dataset-spec.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import { planColumns } from '../../src/spec/transfer-plan.js';
import { testBackend } from '../support/test-backend.js';
import { collectRun, epochMetrics, weightsByName, type CollectedRun } from '../support/training-run.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

const COLUMN_JOB = '0193a1b2-0000-7000-8000-0000000000c0';
const mlp = (names: [string, string, string]): JobSpecInput['model']['layers'] => [
  { type: 'dense', name: names[0], units: 32, activation: 'relu' },
  { type: 'dense', name: names[1], units: 16, activation: 'relu' },
  { type: 'dense', name: names[2], units: 5, activation: 'softmax' },
];
const digits = (classes: number[], layers: JobSpecInput['model']['layers'], extra: Partial<JobSpecInput> = {}): JobSpecInput => ({
  dataset: { name: 'mnist', classes, limit: 1000 },
  model: { layers },
  epochs: 3,
  batchSize: 32,
  learningRate: 0.005,
  seed: 2,
  logEveryBatches: 0,
  ...extra,
});

const named = (checkpoint: CheckpointData) => weightsByName(checkpoint.model);

describe('progressive networks', () => {
  let column: CollectedRun;
  let spec: ReturnType<typeof resolveJobSpec>;
  beforeAll(async () => {
    column = await collectRun(resolveJobSpec(jobSpecSchema.parse(digits([0, 1, 2, 3, 4], mlp(['h1', 'h2', 'out'])))), backend);
    expect(column.error).toBeUndefined();
    const input = digits([5, 6, 7, 8, 9], mlp(['n1', 'n2', 'head']), { model: { layers: mlp(['n1', 'n2', 'head']), progressive: { columns: [{ job: COLUMN_JOB }] } } });
    const parsed = jobSpecSchema.parse(input);
    const checkpoint = column.checkpoints.at(-1)!;
    const plan = planColumns(describeDataset(parsed.dataset)!, [
      {
        checkpoint: { job: COLUMN_JOB, checkpoint: '0193a1b2-0000-7000-8000-0000000000c1', weights: Object.fromEntries(checkpoint.model.weightSpecs.map((w) => [w.name, w.shape])) },
        model: jobSpecSchema.parse(digits([0, 1, 2, 3, 4], mlp(['h1', 'h2', 'out']))).model,
      },
    ]);
    if ('problems' in plan) throw new Error(JSON.stringify(plan.problems));
    spec = resolveJobSpec(parsed, { columns: plan.columns });
  });

  it('feed each new dense layer k ≥ 1 the column\'s activation k−1 through a linear adapter: h = f(W h_{k−1} + b + U h_{k−1}^(0))', () => {
    const { model } = buildModel(spec, [784]);
    const names = model.layers.map((layer) => layer.name);
    expect(names).toEqual(expect.arrayContaining(['c0_h1', 'c0_h2', 'n2_lateral_c0', 'head_lateral_c0', 'n2_sum', 'head_sum']));
    // The column's own output layer belongs to its task: not part of this model.
    expect(names).not.toContain('c0_out');
    expect(names).not.toContain('n1_lateral_c0');

    const x = tf.randomUniform([3, 784], 0, 1, 'float32', 9);
    const weight = (layer: string, i: number) => model.getLayer(layer).getWeights()[i]!;
    const h1Column = tf.relu(tf.add(tf.matMul(x, weight('c0_h1', 0)), weight('c0_h1', 1)));
    const n1 = tf.relu(tf.add(tf.matMul(x, weight('n1', 0)), weight('n1', 1)));
    const expected = tf.add(tf.add(tf.matMul(n1, weight('n2', 0)), weight('n2', 1)), tf.matMul(h1Column, weight('n2_lateral_c0', 0)));
    const probe = tf.model({ inputs: model.inputs, outputs: model.getLayer('n2_sum').output as tf.SymbolicTensor });
    const actual = probe.predict(x) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]).toBeLessThan(1e-4);
  });

  it('train the new column with the earlier one loaded and frozen; the export holds both; a resume is exact', async () => {
    const run = await collectRun(spec, backend, { columns: [column.checkpoints.at(-1)!] });
    expect(run.error).toBeUndefined();
    expect(epochMetrics(run).at(-1)!.val_accuracy).toBeGreaterThan(0.85);
    const before = named(column.checkpoints.at(-1)!);
    const after = named(run.checkpoints.at(-1)!);
    expect(after['c0_h1/kernel']).toEqual(before['h1/kernel']);
    expect(after['c0_h2/bias']).toEqual(before['h2/bias']);
    expect(Object.keys(after)).toEqual(expect.arrayContaining(['n1/kernel', 'n2_lateral_c0/kernel', 'head_lateral_c0/kernel']));
    expect(JSON.stringify(run.checkpoints.at(-1)!.model.modelTopology)).toContain('c0_h2');

    const paused = await collectRun(spec, backend, { columns: [column.checkpoints.at(-1)!], stopAt: (event) => event.type === 'epochMetrics' && event.epoch === 1 });
    const resumed = await collectRun(spec, backend, { resumeFrom: paused.checkpoints.at(-1)! });
    expect(named(resumed.checkpoints.at(-1)!)).toEqual(after);
  });

  it('are checked at submission: dense stacks only, flat inputs, no nesting', () => {
    const problems = (input: JobSpecInput) => {
      const result = jobSpecSchema.safeParse(input);
      return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    };
    expect(
      problems(digits([5, 6, 7, 8, 9], [], { model: { layers: [{ type: 'batchNormalization' }, { type: 'dense', units: 5 }], progressive: { columns: [{ job: COLUMN_JOB }] } } })),
    ).toContain("model.layers.0.type: a progressive net's columns are dense models: dense, activation, dropout and merge layers only");
    const nested = planColumns(describeDataset(jobSpecSchema.parse(digits([5, 6, 7, 8, 9], mlp(['a', 'b', 'c']))).dataset)!, [
      { checkpoint: { job: COLUMN_JOB, checkpoint: COLUMN_JOB, weights: {} }, model: { layers: [], progressive: { columns: [{ job: COLUMN_JOB, checkpoint: 'best' }] } } },
    ]);
    expect('problems' in nested && nested.problems[0]!.message).toMatch(/is itself a progressive net/);
  });

  it('take graph columns too: dense layer k of the new column gets a lateral from what the column\'s dense layer k reads', async () => {
    // A residual dense model: the output layer reads the sum of two hidden layers.
    const residual = (prefix: string): JobSpecInput['model']['layers'] => [
      { type: 'dense', name: `${prefix}1`, units: 16, activation: 'relu' },
      { type: 'dense', name: `${prefix}2`, units: 16, activation: 'relu' },
      { type: 'add', name: `${prefix}sum`, inputs: [`${prefix}1`, `${prefix}2`] },
      { type: 'dense', name: `${prefix}out`, units: 5, activation: 'softmax' },
    ];
    const graphColumn = await collectRun(resolveJobSpec(jobSpecSchema.parse(digits([0, 1, 2, 3, 4], residual('g'), { epochs: 1 }))), backend);
    expect(graphColumn.error).toBeUndefined();
    const parsed = jobSpecSchema.parse(digits([5, 6, 7, 8, 9], residual('n'), { epochs: 2, model: { layers: residual('n'), progressive: { columns: [{ job: COLUMN_JOB }] } } }));
    const checkpoint = graphColumn.checkpoints.at(-1)!;
    const plan = planColumns(describeDataset(parsed.dataset)!, [
      {
        checkpoint: { job: COLUMN_JOB, checkpoint: '0193a1b2-0000-7000-8000-0000000000c1', weights: Object.fromEntries(checkpoint.model.weightSpecs.map((w) => [w.name, w.shape])) },
        model: jobSpecSchema.parse(digits([0, 1, 2, 3, 4], residual('g'))).model,
      },
    ]);
    if ('problems' in plan) throw new Error(JSON.stringify(plan.problems));
    const graphSpec = resolveJobSpec(parsed, { columns: plan.columns });
    const { model } = buildModel(graphSpec, [784]);
    const x = tf.randomUniform([3, 784], 0, 1, 'float32', 4);
    const weight = (layer: string, i: number) => model.getLayer(layer).getWeights()[i]!;
    const dense = (input: tf.Tensor, layer: string) => tf.relu(tf.add(tf.matMul(input, weight(layer, 0)), weight(layer, 1)));
    // The column's output layer reads c0_gsum; the new one's (third dense layer) gets it through its lateral.
    const g1 = dense(x, 'c0_g1');
    const columnSum = tf.add(g1, dense(g1, 'c0_g2'));
    const n1 = dense(x, 'n1');
    const n2 = tf.relu(tf.add(tf.add(tf.matMul(n1, weight('n2', 0)), weight('n2', 1)), tf.matMul(g1, weight('n2_lateral_c0', 0))));
    const expected = tf.add(tf.add(tf.matMul(tf.add(n1, n2), weight('nout', 0)), weight('nout', 1)), tf.matMul(columnSum, weight('nout_lateral_c0', 0)));
    const probe = tf.model({ inputs: model.inputs, outputs: model.getLayer('nout_sum').output as tf.SymbolicTensor });
    expect(tf.max(tf.abs(tf.sub(probe.predict(x) as tf.Tensor, expected))).dataSync()[0]).toBeLessThan(1e-4);

    const run = await collectRun(graphSpec, backend, { columns: [checkpoint] });
    expect(run.error).toBeUndefined();
    expect(named(run.checkpoints.at(-1)!)['c0_g2/kernel']).toEqual(named(checkpoint)['g2/kernel']);
  });
});

