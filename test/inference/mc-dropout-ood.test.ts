import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import { restoreModel } from '../../src/engine/checkpoint-data.js';
import { splitDataset } from '../../src/engine/dataset-split.js';
import { loadDataset } from '../../src/engine/datasets/loader.js';
import { rowsPerCall, sampleWithDropout } from '../../src/engine/mc-dropout.js';
import { buildModel } from '../../src/engine/model-builder.js';
import { createRng } from '../../src/engine/random.js';
import { ClassificationUncertainty } from '../../src/inference/uncertainty.js';
import type { ResolvedJobSpec } from '../../src/spec/job-spec.js';
import { testBackend } from '../support/test-backend.js';
import { collectRun, resolveSpec } from '../support/training-run.js';

/**
 * That MC dropout's uncertainty means something (Gal & Ghahramani 2016, §5): an MNIST MLP with
 * dropout trained on digits 0–4 is less certain, by the predictive entropy of T = 20 passes, about
 * digits it never saw (5–9) and about noise than about its own held-out digits. Trained here, in
 * the engine, in a few seconds.
 */

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

/** P(score of a random positive > score of a random negative), ties counting half: the Mann–Whitney AUROC. */
export function auroc(positives: number[], negatives: number[]): number {
  const all = [...positives.map((v) => [v, 1] as const), ...negatives.map((v) => [v, 0] as const)].sort((a, b) => a[0] - b[0]);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j]![0] === all[i]![0]) j++;
    const rank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (all[k]![1] === 1) rankSum += rank;
    i = j;
  }
  return (rankSum - (positives.length * (positives.length + 1)) / 2) / (positives.length * negatives.length);
}

async function entropies(spec: ResolvedJobSpec, model: tf.LayersModel, clock: { step: number }, x: tf.Tensor, samples: number): Promise<{ predictive: number[]; mutual: number[] }> {
  const rows = x.shape[0]!;
  const summary = new ClassificationUncertainty(rows, samples, [5]);
  await sampleWithDropout(model, clock, x.dataSync() as Float32Array, [784], { samples, seed: 1, maxRowsPerCall: rowsPerCall(spec, [784]), link: (raw) => tf.softmax(raw) }, (block) => summary.add(block));
  const results = Array.from({ length: rows }, (_, i) => summary.result(i));
  return { predictive: results.map((r) => r.predictiveEntropy as number), mutual: results.map((r) => r.mutualInformation as number) };
}

describe('MC dropout on MNIST digits 0–4', () => {
  it('is clearly less certain about digits 5–9 and about noise than about held-out 0–4', async () => {
    const started = Date.now();
    const spec = resolveSpec({
      dataset: { name: 'mnist', classes: [0, 1, 2, 3, 4] },
      model: {
        layers: [
          { type: 'dense', units: 128, activation: 'relu' },
          { type: 'dropout', rate: 0.5 },
          { type: 'dense', units: 128, activation: 'relu' },
          { type: 'dropout', rate: 0.5 },
          { type: 'dense', units: 5 },
        ],
      },
      optimizer: 'adam',
      epochs: 3,
      batchSize: 64,
      validationSplit: 0,
      testSplit: 0.2,
      seed: 3,
      logEveryBatches: 0,
    });
    const run = await collectRun(spec, backend);
    expect(run.error).toBeUndefined();
    const final = run.checkpoints.find((c) => c.reason === 'final')!;
    const trained = Date.now();

    const built = buildModel(spec, [784]);
    restoreModel(built.model, final.model);
    const split = splitDataset(loadDataset(spec.dataset), spec);
    const seen = split.testX!;
    const unseenSet = loadDataset({ name: 'mnist', classes: [5, 6, 7, 8, 9], shape: 'vector', fixedTestSet: false });
    const rows = Math.min(seen.shape[0]!, 1000);
    const unseen = tf.tensor(unseenSet.features.subarray(0, rows * 784), [rows, 784]);
    const rng = createRng(5);
    const noise = tf.tensor(Float32Array.from({ length: 500 * 784 }, () => rng()), [500, 784]);
    const samples = 20;
    const own = await entropies(spec, built.model, built.clock, seen.slice(0, rows), samples);
    const other = await entropies(spec, built.model, built.clock, unseen, samples);
    const random = await entropies(spec, built.model, built.clock, noise, samples);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    // The same model with dropout off, one pass: the softmax entropy MC dropout is compared with.
    const plainEntropy = (x: tf.Tensor) =>
      tf.tidy(() => {
        const p = tf.softmax(built.model.predict(x) as tf.Tensor);
        return Array.from(tf.neg(tf.sum(tf.mul(p, tf.log(tf.add(p, 1e-30))), -1)).dataSync());
      });
    const plain = { seen: plainEntropy(seen.slice(0, rows)), unseenDigits: plainEntropy(unseen), noise: plainEntropy(noise) };
    const report = {
      testAccuracy: run.result!.finalMetrics.test_accuracy,
      meanEntropy: { seen: mean(own.predictive), unseenDigits: mean(other.predictive), noise: mean(random.predictive) },
      meanMutualInformation: { seen: mean(own.mutual), unseenDigits: mean(other.mutual), noise: mean(random.mutual) },
      aurocEntropy: { unseenDigits: auroc(other.predictive, own.predictive), noise: auroc(random.predictive, own.predictive) },
      aurocMutualInformation: { unseenDigits: auroc(other.mutual, own.mutual), noise: auroc(random.mutual, own.mutual) },
      aurocPlainSoftmaxEntropy: { unseenDigits: auroc(plain.unseenDigits, plain.seen), noise: auroc(plain.noise, plain.seen) },
      trainMs: trained - started,
      sampleMs: Date.now() - trained,
    };
    console.log(JSON.stringify(report, null, 2));
    expect(report.meanEntropy.unseenDigits).toBeGreaterThan(2 * report.meanEntropy.seen);
    expect(report.aurocEntropy.unseenDigits).toBeGreaterThan(0.8);
    expect(report.aurocEntropy.noise).toBeGreaterThan(0.8);
    // Mutual information exists only where the passes disagree: zero if dropout were off.
    expect(report.aurocMutualInformation.unseenDigits).toBeGreaterThan(0.75);
    expect(report.aurocMutualInformation.noise).toBeGreaterThan(0.8);
    tf.dispose([unseen, noise]);
    built.model.dispose();
  });
});
