import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/infra/batcher.js';

/** A write that records its batches and answers each item doubled, once `release` is called for the batch. */
function recordingWrite() {
  const batches: number[][] = [];
  const pending: (() => void)[] = [];
  const write = (items: number[]) =>
    new Promise<number[]>((resolve, reject) => {
      batches.push(items);
      pending.push(() => (items.includes(-1) ? reject(new Error(`bad item in [${items.join(', ')}]`)) : resolve(items.map((item) => item * 2))));
    });
  const releaseAll = async () => {
    while (pending.length > 0) {
      pending.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { batches, write, releaseAll };
}

describe('Batcher', () => {
  it('sends a lone call at once, and the calls made meanwhile as one batch', async () => {
    const { batches, write, releaseAll } = recordingWrite();
    const batcher = new Batcher(write, { maxBatch: 100, concurrency: 1 });
    const first = batcher.call(1);
    expect(batches).toEqual([[1]]);
    const rest = [2, 3, 4, 5].map((item) => batcher.call(item));
    expect(batches).toHaveLength(1);
    await releaseAll();
    expect(await first).toBe(2);
    expect(await Promise.all(rest)).toEqual([4, 6, 8, 10]);
    expect(batches).toEqual([[1], [2, 3, 4, 5]]);
  });

  it('keeps batches to maxBatch and at most `concurrency` in flight', async () => {
    const { batches, write, releaseAll } = recordingWrite();
    const batcher = new Batcher(write, { maxBatch: 3, concurrency: 2 });
    const calls = Array.from({ length: 10 }, (_, i) => batcher.call(i));
    // Two drains started by the first two calls, each taking what was waiting when it started.
    expect(batches).toEqual([[0], [1]]);
    await releaseAll();
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 10 }, (_, i) => 2 * i));
    expect(batches.every((batch) => batch.length <= 3)).toBe(true);
    expect(batches.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  it('tries a failed batch item by item, so only the bad item fails', async () => {
    const { batches, write, releaseAll } = recordingWrite();
    const batcher = new Batcher(write, { maxBatch: 100, concurrency: 1 });
    const first = batcher.call(7);
    const calls = [1, -1, 3].map((item) => batcher.call(item));
    const settled = Promise.allSettled([first, ...calls]);
    await releaseAll();
    const results = await settled;
    expect(results.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message))).toEqual([14, 2, 'bad item in [-1]', 6]);
    expect(batches).toEqual([[7], [1, -1, 3], [1], [-1], [3]]);
  });
});
