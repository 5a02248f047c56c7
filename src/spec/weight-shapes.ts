import { definitionOf, type LayerSpec } from '../layers/registry.js';
import type { Shape } from './layer-shapes.js';
import { layerNameOf } from './layer-graph.js';

export { layerNameOf };

export interface LayerWeights {
  /** The layer's name in the model: its `name`, or `<type>_<index>`. */
  layer: string;
  /** `<layer>/<weight>` → shape, as the model's weights are named in checkpoints. */
  weights: Record<string, number[]>;
}

/** The output layer: the last dense one (−1 when there is none). */
export const outputLayerIndex = (layers: LayerSpec[]) => layers.map((layer) => layer.type).lastIndexOf('dense');

/** The index a layer reference (its name, or an index) points at, or undefined. */
export function layerIndexOf(layers: LayerSpec[], ref: string | number): number | undefined {
  if (typeof ref === 'number') return ref < layers.length ? ref : undefined;
  const index = layers.findIndex((layer, i) => layerNameOf(layer, i) === ref);
  return index < 0 ? undefined : index;
}

/**
 * Every weight a model built from `layers` will have, computed from the spec alone (the API checks
 * a transfer against a checkpoint without building the model). `inputs[i]` holds layer i's input
 * shapes (inferShapes's inputShapes). test/spec/weight-shapes.test.ts holds this to what TF.js builds.
 */
export function modelWeights(layers: LayerSpec[], inputs: Shape[][]): LayerWeights[] {
  return layers.map((layer, index) => {
    const name = layerNameOf(layer, index);
    const own = definitionOf(layer).weights?.(layer, inputs[index]!) ?? {};
    return { layer: name, weights: Object.fromEntries(Object.entries(own).map(([weight, shape]) => [`${name}/${weight}`, shape])) };
  });
}
