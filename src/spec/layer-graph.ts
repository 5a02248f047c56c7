import { MODEL_INPUT } from '../layers/fields.js';
import { definitionOf, type LayerSpec } from '../layers/registry.js';

/** The index `inputs` use for the model's input. */
export const MODEL_INPUT_INDEX = -1;

export interface GraphProblem {
  index: number;
  /** The layer's field at fault, when one is. */
  field?: string;
  message: string;
}

export const layerNameOf = (layer: Pick<LayerSpec, 'type' | 'name'>, index: number) => layer.name ?? `${layer.type}_${index}`;

/** Whether any layer names its inputs: the model is then a graph rather than a stack. */
export const isGraph = (layers: Pick<LayerSpec, 'inputs'>[]) => layers.some((layer) => layer.inputs !== undefined);

/**
 * Which layers (by index; −1 the model's input) each layer reads. A layer reads the one before it
 * unless it names its inputs, and may only name layers listed before it, so a model never has a
 * cycle.
 */
export function resolveInputs(layers: LayerSpec[]): { inputs: number[][] } | GraphProblem {
  // The first of two layers with one name.
  const indexByName = new Map(layers.map((layer, index) => [layerNameOf(layer, index), index]).reverse() as [string, number][]);
  const inputs: number[][] = [];
  for (const [index, layer] of layers.entries()) {
    if (layer.name === MODEL_INPUT) return { index, field: 'name', message: `"${MODEL_INPUT}" names the model's input in inputs: choose another name` };
    const read: number[] = [];
    for (const ref of layer.inputs ?? []) {
      const source = ref === MODEL_INPUT ? MODEL_INPUT_INDEX : indexByName.get(ref);
      if (source === undefined) return { index, field: 'inputs', message: `no layer is named ${ref} (inputs name earlier layers, or "${MODEL_INPUT}")` };
      if (source === index) return { index, field: 'inputs', message: `${ref} is this layer: a layer cannot read its own output` };
      if (source > index) {
        return { index, field: 'inputs', message: `${ref} is layer ${source}, after this one: list a layer's inputs before it (so the model has no cycle)` };
      }
      if (read.includes(source)) return { index, field: 'inputs', message: `${ref} is listed twice` };
      read.push(source);
    }
    // By index, not name: a duplicated name is reported on its own (spec-checks) rather than as a cycle.
    if (!layer.inputs) read.push(index - 1);
    const { min, max } = definitionOf(layer).arity ?? { min: 1, max: 1 };
    if (read.length < min || read.length > max) {
      const wanted = min === max ? `${min} input${min === 1 ? '' : 's'}` : `${min} to ${max} inputs`;
      return { index, field: 'inputs', message: `${layer.type} takes ${wanted}, not ${read.length}${layer.inputs ? '' : ': name them in inputs'}` };
    }
    inputs.push(read);
  }
  return { inputs };
}

/** A layer and every layer its output depends on, in index order: a stack's prefix, a graph node's ancestors. */
export function layerAndAncestors(inputs: number[][], index: number): number[] {
  const seen = new Set<number>();
  const visit = (i: number) => {
    if (i === MODEL_INPUT_INDEX || seen.has(i)) return;
    seen.add(i);
    inputs[i]!.forEach(visit);
  };
  visit(index);
  return [...seen].sort((a, b) => a - b);
}

/**
 * The last layer is the model's output; any other layer that nothing reads is a branch left
 * hanging (a typo in an inputs list, usually), unless an auxiliary head reads it.
 */
export function unreadLayer(layers: LayerSpec[], inputs: number[][], readByHeads: ReadonlySet<number>): GraphProblem | undefined {
  const readers = new Set([...inputs.flat(), ...readByHeads]);
  const index = layers.findIndex((_layer, i) => i < layers.length - 1 && !readers.has(i));
  if (index < 0) return undefined;
  return { index, message: `nothing reads ${layerNameOf(layers[index]!, index)}'s output: no later layer lists it in inputs, and only the last layer is the model's output` };
}
