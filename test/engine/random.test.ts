import { describe, expect, it } from 'vitest';
import { createRng, deriveSeed, permutation } from '../../src/engine/random.js';

describe('seeded randomness', () => {
  it('repeats the same stream for the same seed and differs for another', () => {
    const a = createRng(1);
    const b = createRng(1);
    const c = createRng(2);
    const first = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(first);
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(first);
    for (const value of first) expect(value >= 0 && value < 1).toBe(true);
  });

  it('permutes every index exactly once, roughly uniformly', () => {
    const rng = createRng(9);
    const firstPositions = new Array(5).fill(0);
    for (let trial = 0; trial < 5000; trial++) {
      const order = permutation(5, rng);
      expect([...order].sort()).toEqual([0, 1, 2, 3, 4]);
      firstPositions[order[0]!] += 1;
    }
    // Each index leads about 1000 times; a biased shuffle (e.g. sort by random) drifts far more.
    for (const count of firstPositions) expect(Math.abs(count - 1000)).toBeLessThan(150);
  });

  it('derives distinct, stable seeds per stream', () => {
    expect(deriveSeed(5, 1)).toBe(deriveSeed(5, 1));
    expect(new Set([deriveSeed(5, 1), deriveSeed(5, 2), deriveSeed(6, 1)]).size).toBe(3);
  });
});
