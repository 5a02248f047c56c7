import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

describe('UnsortedSegmentSum on wasm', () => {
  it('sums rows into their segments, dropping out-of-range ids, like TensorFlow', () => {
    expect(tf.getBackend()).toBe('wasm');
    const x = tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8]]);
    const out = tf.unsortedSegmentSum(x, tf.tensor1d([2, 0, 2, 5], 'int32'), 3);
    expect(out.arraySync()).toEqual([[3, 4], [0, 0], [6, 8]]);
  });

  it('makes the gradient of gather (an embedding lookup) work', () => {
    const table = tf.variable(tf.tensor2d([[0, 0], [0, 0], [0, 0]]));
    const indices = tf.tensor2d([[0, 2], [2, 2]], undefined, 'int32');
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(tf.gather(table, indices), tf.tensor3d([[[1, 1], [2, 2]], [[3, 3], [4, 4]]]))) as tf.Scalar, [table]);
    // Row 0 is looked up once (weight 1), row 2 three times (2 + 3 + 4), row 1 never.
    expect(grads[table.name]!.arraySync()).toEqual([[1, 1], [0, 0], [9, 9]]);
  });
});
