import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/engine/random.js';
import { applyParams, cornerPoints, drawPoint, gridPoints, ParamPathError, pathSegments, perturb } from '../../src/studies/search-space.js';
import { searchSpaceSchema, type SearchSpace } from '../../src/spec/study-spec.js';

describe('applyParams', () => {
  const base = { optimizer: 'adam', model: { layers: [{ type: 'dense', units: 8 }, { type: 'dropout', rate: 0.1 }] }, batchSize: 32 };

  it('puts each value at its path and leaves the base alone', () => {
    const spec = applyParams(base, { 'model.layers[1].rate': 0.4, batchSize: 64 });
    expect(spec).toMatchObject({ model: { layers: [{ units: 8 }, { rate: 0.4 }] }, batchSize: 64 });
    expect(base.model.layers[1]).toEqual({ type: 'dropout', rate: 0.1 });
  });

  it('chooses a whole config before setting a field inside it, and opens a name into {type}', () => {
    expect(applyParams(base, { 'optimizer.momentum': 0.5, optimizer: { type: 'momentum', momentum: 0.9 } }).optimizer).toEqual({ type: 'momentum', momentum: 0.5 });
    expect(applyParams(base, { 'optimizer.beta1': 0.8 }).optimizer).toEqual({ type: 'adam', beta1: 0.8 });
  });

  it('refuses an index past the end of a list, and a field inside a number', () => {
    expect(() => applyParams(base, { 'model.layers[5].rate': 0.1 })).toThrow(ParamPathError);
    expect(() => applyParams(base, { 'batchSize.x': 1 })).toThrow(/batchSize is not an object/);
  });

  it('cannot be led into the prototype', () => {
    const spec = applyParams(base, { 'constructor.prototype.polluted': 1, 'model.constructor.name': 'x' } as Record<string, unknown>);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(spec)).toBe(Object.prototype);
    // The keys are the spec's own, which the job spec schema then refuses as unknown.
    expect(Object.hasOwn(spec, 'constructor')).toBe(true);
    expect(Object.name).toBe('Object');
    expect(searchSpaceSchema.safeParse({ 'constructor.prototype.polluted': { type: 'choice', values: [1] } }).success).toBe(false);
  });

  it('splits paths into keys and indexes', () => {
    expect(pathSegments('model.layers[12].rate')).toEqual(['model', 'layers', 12, 'rate']);
  });
});

describe('draws', () => {
  const space: SearchSpace = {
    learningRate: { type: 'logUniform', low: 1e-4, high: 1 },
    batchSize: { type: 'choice', values: [16, 64, 256] },
    units: { type: 'int', low: 4, high: 64, log: true },
    rate: { type: 'uniform', low: 0, high: 0.5 },
  };

  it('stay inside the space, and a log-uniform draw is uniform in its logarithm', () => {
    const rng = createRng(1);
    const logs: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const point = drawPoint(space, rng);
      expect(point.learningRate as number).toBeGreaterThanOrEqual(1e-4);
      expect(point.learningRate as number).toBeLessThanOrEqual(1);
      expect([16, 64, 256]).toContain(point.batchSize);
      expect(Number.isInteger(point.units) && (point.units as number) >= 4 && (point.units as number) <= 64).toBe(true);
      logs.push(Math.log10(point.learningRate as number));
    }
    // Each decade of 1e-4…1 gets about a quarter.
    for (let decade = -4; decade < 0; decade++) expect(logs.filter((l) => l >= decade && l < decade + 1).length / logs.length).toBeCloseTo(0.25, 1);
  });

  it('are the same from the same seed', () => {
    expect(drawPoint(space, createRng(9))).toEqual(drawPoint(space, createRng(9)));
  });

  it("grid takes every choice's every value; corners take every range's ends", () => {
    expect(gridPoints({ a: { type: 'choice', values: [1, 2] }, b: { type: 'choice', values: ['x', 'y', 'z'] } })).toHaveLength(6);
    expect(() => gridPoints({ a: { type: 'uniform', low: 0, high: 1 } })).toThrow(ParamPathError);
    const corners = cornerPoints(space, 1000, createRng(1));
    expect(corners).toHaveLength(2 * 3 * 2 * 2);
    expect(corners).toContainEqual({ learningRate: 1e-4, batchSize: 256, units: 64, rate: 0 });
    expect(cornerPoints(space, 5, createRng(1))).toHaveLength(5);
  });

  it("PBT's explore perturbs by the factors inside the range, or moves a choice to a neighbour", () => {
    const rng = createRng(4);
    for (let i = 0; i < 200; i++) {
      const next = perturb(space, { learningRate: 0.01, batchSize: 64, units: 16, rate: 0.2 }, rng, { resampleProbability: 0, factors: [1.2, 0.8] });
      expect([0.012, 0.008].map((v) => Math.abs(v - (next.learningRate as number)) < 1e-12)).toContain(true);
      expect([16, 256]).toContain(next.batchSize);
      expect([19, 13]).toContain(next.units);
    }
    const atTheEdge = perturb(space, { learningRate: 1, batchSize: 256, units: 64, rate: 0.5 }, createRng(2), { resampleProbability: 0, factors: [1.2, 1.2] });
    expect(atTheEdge).toEqual({ learningRate: 1, batchSize: 256, units: 64, rate: 0.5 });
  });
});
