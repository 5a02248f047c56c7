import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import { buildModel, buildObjective } from '../../src/engine/model-builder.js';
import { taskLoss } from '../../src/engine/objective.js';
import { computeGradients } from '../../src/engine/train-step.js';
import { jobSpecSchema, type JobSpecInput } from '../../src/spec/job-spec.js';
import { testBackend } from '../support/test-backend.js';
import { tinyIrisSpec } from '../support/specs.js';
import { collectRun, epochMetrics, resolveSpec } from '../support/training-run.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

const withHeads = (overrides: Partial<JobSpecInput> = {}): JobSpecInput =>
  tinyIrisSpec({
    epochs: 4,
    model: {
      layers: [
        { type: 'dense', name: 'hidden1', units: 12, activation: 'relu' },
        { type: 'dense', name: 'hidden2', units: 12, activation: 'relu' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
      auxiliaryHeads: [{ after: 'hidden1', weight: 0.5, decayToZeroByEpoch: 2 }, { after: 1 }],
    },
    regularization: { labelSmoothing: 0.1 },
    ...overrides,
  });

describe('auxiliary classifiers (deeply supervised nets)', () => {
  it('L = L_main + Σ α·L_head, each head a dense layer like the output on its hidden layer', () => {
    const spec = resolveSpec(withHeads());
    const built = buildModel(spec, [4]);
    expect(built.training.outputs).toHaveLength(3);
    expect(built.heads.map((h) => [h.layer, h.weight, h.decayToZeroByEpoch])).toEqual([['hidden1', 0.5, 2], ['hidden2', 0.3, null]]);
    const objective = buildObjective(spec, built);
    const x = tf.randomNormal([5, 4], 0, 1, 'float32', 1);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1, 0], 'int32'), 3).toFloat();
    const variables = built.training.trainableWeights.map((w) => w.read() as tf.Variable);
    const step = computeGradients(built.training, variables, x, y, objective, [0.5, 0.3]);
    const [main, head1, head2] = built.training.apply(x, { training: true }) as tf.Tensor[];
    const mainLoss = taskLoss(main!, y, objective, 0.1).dataSync()[0]!;
    // The heads train on the same loss as the output, label smoothing (ε = 0.1 here) included.
    const headLosses = [head1!, head2!].map((head) => taskLoss(head, y, objective, 0.1).dataSync()[0]!);
    expect(headLosses[0]).not.toBeCloseTo(taskLoss(head1!, y, objective).dataSync()[0]!, 3);
    expect(step.headLosses.map((l) => l.dataSync()[0]!)).toEqual(headLosses.map((l) => expect.closeTo(l, 5)));
    expect(step.loss.dataSync()[0]).toBeCloseTo(mainLoss + 0.5 * headLosses[0]! + 0.3 * headLosses[1]!, 5);
    // Every variable, the heads' included, gets a gradient.
    expect(step.gradients).toHaveLength(variables.length);
    built.training.dispose();
  });

  it('report each head\'s loss, decay α to 0, and are absent from the exported model', async () => {
    const before = tf.memory().numTensors;
    const run = await collectRun(resolveSpec(withHeads()), backend);
    expect(run.error).toBeUndefined();
    // The heads' weights are freed with the model.
    expect(tf.memory().numTensors).toBe(before);
    const metrics = epochMetrics(run);
    expect(metrics[0]!.aux_hidden1_loss).toBeGreaterThan(0);
    expect(metrics[0]!.aux_hidden2_loss).toBeGreaterThan(0);
    // α of each epoch's last step (8 steps an epoch, α = 0.5 · (1 − (t − 1) / 16) at step t).
    expect(metrics.map((m) => m.aux_hidden1_weight)).toEqual([0.5 * (1 - 7 / 16), 0.5 * (1 - 15 / 16), 0, 0]);
    expect(metrics[0]!.aux_hidden2_weight).toBeUndefined();
    const final = run.checkpoints.at(-1)!;
    const topology = JSON.stringify(final.model.modelTopology);
    expect(topology).not.toContain('aux_');
    expect(final.model.weightSpecs.map((w) => w.name).some((name) => name.includes('aux_'))).toBe(false);
    // The heads' weights travel separately: 12·3 + 3 per head.
    expect(final.headWeights).toHaveLength(2 * (12 * 3 + 3));
  });

  it('a run with heads resumes exactly, heads included', async () => {
    const spec = resolveSpec(withHeads());
    const straight = await collectRun(spec, backend);
    const paused = await collectRun(spec, backend, { stopAt: (event) => event.type === 'epochMetrics' && event.epoch === 2 });
    const resumed = await collectRun(spec, backend, { resumeFrom: paused.checkpoints.at(-1)! });
    expect(new Float32Array(resumed.checkpoints.at(-1)!.model.weightData)).toEqual(new Float32Array(straight.checkpoints.at(-1)!.model.weightData));
    expect(resumed.checkpoints.at(-1)!.headWeights).toEqual(straight.checkpoints.at(-1)!.headWeights);
    expect(epochMetrics(resumed).at(-1)).toEqual(epochMetrics(straight).at(-1));
  });

  it('are checked at submission: unknown layer, the output layer, a decay beyond the run', () => {
    const problems = (heads: object[]) => {
      const result = jobSpecSchema.safeParse({ ...withHeads(), model: { ...withHeads().model, auxiliaryHeads: heads } });
      return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    };
    expect(problems([{ after: 'nope' }])).toEqual(['model.auxiliaryHeads.0.after: no layer named nope']);
    expect(problems([{ after: 2 }])[0]).toMatch(/^model\.auxiliaryHeads\.0\.after: layer 2 is not a hidden layer/);
    expect(problems([{ after: 0, decayToZeroByEpoch: 9 }])).toEqual(["model.auxiliaryHeads.0.decayToZeroByEpoch: is beyond the run's 4 epochs"]);
  });
});

describe('losses in training', () => {
  it('sparse and categorical cross-entropy train to the same weights (the same loss on other label encodings)', async () => {
    const weights = async (loss: 'categoricalCrossentropy' | 'sparseCategoricalCrossentropy') =>
      new Float32Array((await collectRun(resolveSpec(tinyIrisSpec({ loss })), backend)).checkpoints.at(-1)!.model.weightData);
    const dense = await weights('categoricalCrossentropy');
    const sparse = await weights('sparseCategoricalCrossentropy');
    dense.forEach((w, i) => expect(sparse[i]).toBeCloseTo(w, 4));
  });

  it('binary cross-entropy with one sigmoid unit learns XOR', async () => {
    const run = await collectRun(
      resolveSpec({
        dataset: { name: 'xor', rows: 600, noise: 0.05 },
        model: { layers: [{ type: 'dense', units: 16, activation: 'tanh' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
        loss: 'binaryCrossentropy',
        learningRate: 0.03,
        epochs: 15,
        seed: 2,
        logEveryBatches: 0,
      }),
      backend,
    );
    expect(run.error).toBeUndefined();
    expect(epochMetrics(run).at(-1)!.val_accuracy).toBeGreaterThan(0.9);
  });
});
