import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../support/test-backend.js';
import { selectBackend } from '../../src/engine/backend.js';
import { objectiveLoss, plainObjective, scoreSum, taskLoss } from '../../src/engine/objective.js';

beforeAll(async () => {
  await selectBackend(testBackend);
});

const value = (t: tf.Tensor) => t.dataSync()[0]!;
const logits = [
  [2, -1, 0.5],
  [0.1, 0.2, 3],
];
const softmax = (row: number[]) => {
  const e = row.map(Math.exp);
  const s = e.reduce((a, b) => a + b);
  return e.map((v) => v / s);
};

describe('losses against their formulas', () => {
  it('sparse categorical cross-entropy on class indices equals categorical on one-hot rows: −mean log p[y]', () => {
    const expected = -(Math.log(softmax(logits[0]!)[0]!) + Math.log(softmax(logits[1]!)[2]!)) / 2;
    const sparse = taskLoss(tf.tensor2d(logits), tf.tensor1d([0, 2], 'int32'), plainObjective('sparseCategoricalCrossentropy', false));
    const dense = taskLoss(tf.tensor2d(logits), tf.tensor2d([[1, 0, 0], [0, 0, 1]]), plainObjective('categoricalCrossentropy', false));
    expect(value(sparse)).toBeCloseTo(expected, 5);
    expect(value(dense)).toBeCloseTo(expected, 5);
  });

  it('label smoothing works the same on sparse labels: y′ = (1 − ε) y + ε/K', () => {
    const eps = 0.2;
    const p = logits.map(softmax);
    const target = [[1 - eps + eps / 3, eps / 3, eps / 3], [eps / 3, eps / 3, 1 - eps + eps / 3]];
    const expected = -target.reduce((sum, row, i) => sum + row.reduce((s, y, k) => s + y * Math.log(p[i]![k]!), 0), 0) / 2;
    const objective = { ...plainObjective('sparseCategoricalCrossentropy', false), labelSmoothing: eps };
    expect(value(objectiveLoss(tf.tensor2d(logits), tf.tensor1d([0, 2], 'int32'), objective).loss)).toBeCloseTo(expected, 5);
  });

  it('binary cross-entropy: −mean(y log p + (1 − y) log(1 − p)), the same from logits and from probabilities', () => {
    const z = [[1.5], [-0.3], [4]];
    const y = [[1], [0], [0]];
    const sigma = (v: number) => 1 / (1 + Math.exp(-v));
    const expected = -z.reduce((sum, [v], i) => sum + (y[i]![0]! * Math.log(sigma(v!)) + (1 - y[i]![0]!) * Math.log(1 - sigma(v!))), 0) / 3;
    expect(value(taskLoss(tf.tensor2d(z), tf.tensor2d(y), plainObjective('binaryCrossentropy', false)))).toBeCloseTo(expected, 5);
    const probabilities = tf.sigmoid(tf.tensor2d(z));
    expect(value(taskLoss(probabilities, tf.tensor2d(y), plainObjective('binaryCrossentropy', true)))).toBeCloseTo(expected, 4);
  });

  it('mean squared error: mean over every output of (ŷ − y)²', () => {
    const output = tf.tensor2d([[1, 2], [3, 5]]);
    const targets = tf.tensor2d([[0, 2], [1, 1]]);
    expect(value(taskLoss(output, targets, plainObjective('meanSquaredError', false, true)))).toBeCloseTo((1 + 0 + 4 + 16) / 4, 6);
  });

  it('cross-entropy over sequences averages over rows and steps', () => {
    // Two rows, two steps, three classes: each position's −log p[y], then the mean of the four.
    const out = tf.tensor3d([logits, [logits[1]!, logits[0]!]]);
    const labels = tf.tensor2d([[0, 2], [2, 1]], undefined, 'int32');
    const p0 = softmax(logits[0]!);
    const p1 = softmax(logits[1]!);
    const expected = -(Math.log(p0[0]!) + Math.log(p1[2]!) + Math.log(p1[2]!) + Math.log(p0[1]!)) / 4;
    expect(value(taskLoss(out, labels, plainObjective('sparseCategoricalCrossentropy', false)))).toBeCloseTo(expected, 5);
    // Scores: row 1 has both steps right (argmax 0, then 2), row 2 one of two (2 right, 1 wrong).
    expect(value(scoreSum(out, labels, { regression: false, probabilities: false }))).toBeCloseTo(1.5, 6);
  });
});

describe('scores', () => {
  it('one sigmoid unit: class 1 when p > 0.5, or logit > 0', () => {
    const labels = tf.tensor2d([[1], [0], [0]]);
    expect(value(scoreSum(tf.tensor2d([[0.9], [0.4], [0.7]]), labels, { regression: false, probabilities: true }))).toBe(2);
    expect(value(scoreSum(tf.tensor2d([[0.5], [-2], [0.1]]), labels, { regression: false, probabilities: false }))).toBe(2);
  });

  it('a regression scores each row by its mean absolute error', () => {
    const score = scoreSum(tf.tensor2d([[1, 2], [3, 3]]), tf.tensor2d([[0, 0], [3, 4]]), { regression: true, probabilities: false });
    expect(value(score)).toBeCloseTo((1 + 2) / 2 + (0 + 1) / 2, 6);
  });
});
