import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import type { TrainingEvent } from '../../src/engine/events.js';
import { buildModel, buildObjective } from '../../src/engine/model-builder.js';
import { objectiveLoss, plainObjective, type Objective } from '../../src/engine/objective.js';
import { runTraining } from '../../src/engine/trainer.js';
import { jobSpecSchema, resolveJobSpec } from '../../src/spec/job-spec.js';
import { testBackend } from '../support/test-backend.js';
import { tinyIrisSpec } from '../support/specs.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

// Two samples, three classes, written out so each formula can be checked by hand in float64.
const logits = [
  [2.0, 0.5, -1.0],
  [0.1, 0.2, 3.0],
];
const labels = [
  [1, 0, 0],
  [0, 1, 0],
];
const softmax = (z: number[]) => {
  const e = z.map(Math.exp);
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const p = logits.map(softmax);
const entropy = p.map((row) => -row.reduce((a, v) => a + v * Math.log(v), 0));
const ce = (targets: number[][]) => targets.reduce((sum, row, i) => sum - row.reduce((a, y, k) => a + y * Math.log(p[i]![k]!), 0), 0) / targets.length;
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

function lossOf(objective: Partial<Objective>): { loss: number; entropy: number } {
  return tf.tidy(() => {
    const result = objectiveLoss(tf.tensor2d(logits), tf.tensor2d(labels), { ...plainObjective('categoricalCrossentropy', false), ...objective });
    return { loss: result.loss.dataSync()[0]!, entropy: result.entropy.dataSync()[0]! };
  });
}

describe('training objective (TECHNIQUES.md 2) against its formulas', () => {
  it('plain cross-entropy and the mean output entropy', () => {
    const result = lossOf({});
    expect(result.loss).toBeCloseTo(ce(labels), 5);
    expect(result.entropy).toBeCloseTo(mean(entropy), 5);
  });

  it("label smoothing: y' = (1 − ε) y + ε/K", () => {
    const smoothed = labels.map((row) => row.map((y) => 0.9 * y + 0.1 / 3));
    expect(lossOf({ labelSmoothing: 0.1 }).loss).toBeCloseTo(ce(smoothed), 5);
  });

  it('confidence penalty: L = CE − β H(p)', () => {
    expect(lossOf({ confidencePenalty: 0.5 }).loss).toBeCloseTo(ce(labels) - 0.5 * mean(entropy), 5);
  });

  it('entropy threshold: L = CE + β max(0, τ − H(p)), per sample', () => {
    const tau = 0.6; // between the two samples' entropies, so only one is penalised
    expect(entropy.filter((h) => h < tau)).toHaveLength(1);
    const expected = ce(labels) + 2 * mean(entropy.map((h) => Math.max(0, tau - h)));
    expect(lossOf({ entropyThreshold: { beta: 2, tau } }).loss).toBeCloseTo(expected, 5);
  });

  it('L1/L2 on kernels: L += λ₁ Σ|w| + λ₂ Σ w²', () => {
    const kernel = tf.variable(tf.tensor2d([[1, -2], [3, -0.5]]));
    const result = tf.tidy(() => objectiveLoss(tf.tensor2d(logits), tf.tensor2d(labels), { ...plainObjective('categoricalCrossentropy', false), weightPenalties: [{ variable: kernel, l1: 0.1, l2: 0.01 }] }).loss.dataSync()[0]!);
    expect(result).toBeCloseTo(ce(labels) + 0.1 * 6.5 + 0.01 * (1 + 4 + 9 + 0.25), 5);
    kernel.dispose();
  });
});

describe('regularization in a run', () => {
  async function run(regularization: object) {
    const events: TrainingEvent[] = [];
    const spec = resolveJobSpec(jobSpecSchema.parse({ ...tinyIrisSpec({ epochs: 8 }), regularization }));
    const result = await runTraining(spec, { emit: (event) => events.push(event) }, { backend });
    return { result, events };
  }

  it('reports output_entropy when a confidence option is on, and the penalty raises it', async () => {
    const plain = await run({});
    const penalised = await run({ confidencePenalty: 1 });
    expect(plain.result.finalMetrics.output_entropy).toBeUndefined();
    expect(penalised.result.finalMetrics.output_entropy).toBeGreaterThan(0);
    const smoothed = await run({ labelSmoothing: 0.2 });
    expect(smoothed.result.finalMetrics.output_entropy).toBeGreaterThan(0);
  });

  it('L2 shrinks the weights', async () => {
    const final = async (regularization: object) => {
      let weights: Float32Array | null = null;
      const spec = resolveJobSpec(jobSpecSchema.parse({ ...tinyIrisSpec({ epochs: 8 }), regularization }));
      await runTraining(spec, { emit: () => undefined, checkpoint: (data) => (weights = new Float32Array(data.model.weightData)) }, { backend });
      return weights!.reduce((sum, w) => sum + w * w, 0);
    };
    expect(await final({ l2: 0.05 })).toBeLessThan(await final({}));
  });
});

describe('global l1/l2 penalise exactly the kernels the docs name', () => {
  it('dense and conv2d kernels and the input kernels of recurrent layers; no recurrent kernel, bias, embedding or normalization weight', () => {
    const spec = resolveJobSpec(
      jobSpecSchema.parse({
        dataset: { name: 'copy', rows: 40, length: 2, delay: 2, inputs: 'tokens' },
        model: {
          layers: [
            { type: 'embedding', inputDim: 10, outputDim: 4 },
            { type: 'lstm', units: 5, returnSequences: true },
            { type: 'layerNormalization' },
            { type: 'gru', units: 5, returnSequences: true },
            { type: 'simpleRnn', units: 5, returnSequences: true },
            { type: 'dense', units: 9 },
          ],
        },
        regularization: { l1: 0.01, l2: 0.02 },
      }),
    );
    const built = buildModel(spec, [6]);
    const penalised = buildObjective(spec, built).weightPenalties.map((p) => p.variable.name.replace(/_\d+$/, ''));
    expect(penalised.map((name) => name.split('/').slice(-2).join('/'))).toEqual(['lstm_1/kernel', 'gru_3/kernel', 'simpleRnn_4/kernel', 'dense_5/kernel']);
    const described = (jobSpecSchema.shape.regularization.unwrap().shape.l1.description ?? '').toLowerCase();
    for (const kind of ['dense', 'conv2d', 'input kernels of simplernn, lstm and gru', 'not recurrent kernels']) expect(described).toContain(kind);
    built.model.dispose();
  });
});
