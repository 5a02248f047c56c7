import { describe, expect, it } from 'vitest';
import { MAX_FIELDS, jsonValueProblems, tooManyFields } from '../../src/validation/storable-text.js';

const objectOf = (fields: number) => Object.fromEntries(Array.from({ length: fields }, (_, i) => [`k${i}`, i]));

describe('tooManyFields, the scan before JSON.parse', () => {
  it('agrees with the count of the parsed value at the limit and one past it', () => {
    for (const [fields, over] of [[MAX_FIELDS, false], [MAX_FIELDS + 1, true]] as const) {
      const text = JSON.stringify({ nested: objectOf(fields - 1) });
      expect(tooManyFields(text)).toBe(over);
      expect(jsonValueProblems(JSON.parse(text)).length > 0).toBe(over);
    }
  });

  it('does not count colons inside strings, escaped quotes included', () => {
    const text = JSON.stringify({ a: ':'.repeat(MAX_FIELDS * 2), b: '\\":'.repeat(MAX_FIELDS), c: ['x:y'] });
    expect(tooManyFields(text)).toBe(false);
  });

  it('is cheap next to parsing a body of many keys', () => {
    const text = JSON.stringify(objectOf(30_000));
    const started = performance.now();
    expect(tooManyFields(text)).toBe(true);
    // The point is the ratio, measured by the abuse bench; this only rules out a pathological scan.
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
