import { describe, expect, it } from 'vitest';
import { inferLabelType, MAX_INFERRED_CLASSES, TableBuilder } from '../../src/datasets/tabular-parser.js';

describe('label type inference', () => {
  it('names classes: any non-number, or few distinct integers', () => {
    expect(inferLabelType(['a', 'b', '1'])).toBe('class');
    expect(inferLabelType(['0', '1', '2', '1'])).toBe('class');
    expect(inferLabelType(Array.from({ length: MAX_INFERRED_CLASSES }, (_, i) => String(i)))).toBe('class');
  });

  it('numbers: a non-integer, or more distinct integers than MAX_INFERRED_CLASSES', () => {
    expect(inferLabelType(['1', '2.5'])).toBe('number');
    expect(inferLabelType(Array.from({ length: MAX_INFERRED_CLASSES + 1 }, (_, i) => String(i)))).toBe('number');
  });

  it('declared feature columns pick and order the features; the rest are ignored', () => {
    const builder = new TableBuilder({ features: ['c', 'a'], label: 'y' });
    builder.setColumns(['a', 'b', 'c', 'y'], 1);
    builder.addRow(['1', 'not a number', '3', '0.5'], 2);
    builder.addRow(['4', '', '6', '1.5'], 3);
    const table = builder.build();
    expect(table.featureNames).toEqual(['c', 'a']);
    expect(Array.from(table.features)).toEqual([3, 1, 6, 4]);
    expect(table.labelType === 'number' && Array.from(table.targets)).toEqual([0.5, 1.5]);
  });
});
