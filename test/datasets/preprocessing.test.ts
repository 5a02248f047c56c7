import { describe, expect, it } from 'vitest';
import { applyPreprocessing, fitPreprocessing, splitDataset } from '../../src/engine/dataset-split.js';
import { loadDataset } from '../../src/engine/datasets/loader.js';
import { jobSpecSchema, resolveJobSpec } from '../../src/spec/job-spec.js';
import { tinyIrisSpec } from '../support/specs.js';

describe('preprocessing', () => {
  it('standardize: (x − mean) / std per feature; a constant feature becomes 0', () => {
    const x = new Float32Array([1, 5, 3, 5, 5, 5]); // 3 rows × 2 features; the second is constant
    const fitted = fitPreprocessing('standardize', x, 2)!;
    expect(fitted.shift).toEqual([3, 5]);
    expect(fitted.scale[0]).toBeCloseTo(Math.sqrt(8 / 3), 12);
    expect(fitted.scale[1]).toBe(1);
    applyPreprocessing(fitted, x);
    expect(Array.from(x).map((v) => Number(v.toFixed(5)))).toEqual([-1.22474, 0, 0, 0, 1.22474, 0]);
  });

  it('minMax: (x − min) / (max − min)', () => {
    const x = new Float32Array([2, 10, 4, 20, 6, 30]);
    const fitted = fitPreprocessing('minMax', x, 2)!;
    applyPreprocessing(fitted, x);
    expect(Array.from(x)).toEqual([0, 0, 0.5, 0.5, 1, 1]);
  });

  it('is fitted on the training rows only, and the split is the same for the same seed', () => {
    const spec = resolveJobSpec(jobSpecSchema.parse(tinyIrisSpec({ validationSplit: 0.2, testSplit: 0.2, preprocessing: { features: 'standardize' } })));
    const dataset = loadDataset(spec.dataset);
    const split = splitDataset(dataset, spec);
    expect([split.trainRows, split.validationRows, split.testRows]).toEqual([90, 30, 30]);
    // Training features are standardized exactly; held-out rows only approximately.
    const train = split.trainX.arraySync() as number[][];
    for (let f = 0; f < 4; f++) {
      const column = train.map((row) => row[f]!);
      const mean = column.reduce((a, b) => a + b, 0) / column.length;
      expect(Math.abs(mean)).toBeLessThan(1e-5);
    }
    const again = splitDataset(dataset, spec);
    expect(again.testX!.arraySync()).toEqual(split.testX!.arraySync());
    expect(again.preprocessing).toEqual(split.preprocessing);
  });
});
