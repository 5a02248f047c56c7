import type { Shape } from './layer-definition.js';

/** The projections of one attention (Keras's MultiHeadAttention naming, flattened), under `prefix`. */
export function attentionWeights(prefix: string, shape: { heads: number; keyDim: number; valueDim: number; query: number; key: number; value: number; output: number }, useBias: boolean): Record<string, Shape> {
  const { heads, keyDim, valueDim } = shape;
  const projections: [string, number, number][] = [
    ['query', shape.query, heads * keyDim],
    ['key', shape.key, heads * keyDim],
    ['value', shape.value, heads * valueDim],
    ['output', heads * valueDim, shape.output],
  ];
  return Object.fromEntries(
    projections.flatMap(([name, rows, columns]) => [[`${prefix}${name}/kernel`, [rows, columns]], ...(useBias ? [[`${prefix}${name}/bias`, [columns]]] : [])]),
  );
}

export const ATTENTION_KERNELS = ['query/kernel', 'key/kernel', 'value/kernel', 'output/kernel'];
