import { describeShape, type Shape } from '../layers/layer-definition.js';
import { definitionOf, type LayerSpec } from '../layers/registry.js';
import { MODEL_INPUT_INDEX, resolveInputs, type GraphProblem } from './layer-graph.js';

/**
 * Output shapes of a model, computed from the spec alone so a model that cannot be built (a conv
 * after a flatten, a dense layer on an image, a merge of different shapes, a cycle) is a 400 at
 * submission, naming the layer, rather than a failed job later. Shapes exclude the batch dimension.
 */
export type { Shape };

export interface ModelShapes {
  /** shapes[i]: layer i's output. */
  shapes: Shape[];
  /** inputShapes[i]: the shapes of what layer i reads, in its inputs' order. */
  inputShapes: Shape[][];
  /** sources[i]: the layers layer i reads (−1 the model's input). */
  sources: number[][];
}

export type ShapeResult = ModelShapes | GraphProblem;

export function inferShapes(input: Shape, layers: LayerSpec[]): ShapeResult {
  const graph = resolveInputs(layers);
  if ('message' in graph) return graph;
  const shapes: Shape[] = [];
  const inputShapes: Shape[][] = [];
  const modelInputs = modelInputReaders(layers, graph.inputs);
  for (const [index, layer] of layers.entries()) {
    const sources = graph.inputs[index]!;
    const inputs = sources.map((source) => (source === MODEL_INPUT_INDEX ? input : shapes[source]!));
    const shape = definitionOf(layer).outputShape(layer, inputs, { readsModelInput: modelInputs[index]! });
    if (typeof shape === 'string') return { index, message: shape };
    inputShapes.push(inputs);
    shapes.push(shape);
  }
  return { shapes, inputShapes, sources: graph.inputs };
}

/**
 * Which layers read the model's input, directly or through layers that pass it on as it is
 * (`passesTokens`: a time slice of token ids is still token ids).
 */
export function modelInputReaders(layers: LayerSpec[], sources: number[][]): boolean[] {
  const carries: boolean[] = [];
  return layers.map((layer, index) => {
    const reads = sources[index]!.length > 0 && sources[index]!.every((source) => source === MODEL_INPUT_INDEX || carries[source]!);
    carries.push(reads && definitionOf(layer).passesTokens === true);
    return reads;
  });
}

export { describeShape };
