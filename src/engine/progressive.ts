import * as tf from '@tensorflow/tfjs';
import type { ResolvedJobSpec } from '../spec/job-spec.js';
import type { LayerSpec } from '../spec/layer-spec.js';
import { MODEL_INPUT_INDEX, resolveInputs } from '../spec/layer-graph.js';
import { layerNameOf, outputLayerIndex } from '../spec/weight-shapes.js';
import type { LayerFactory } from './layer-factory.js';
import { deriveSeed } from './random.js';

const LATERAL_STREAM = 6000;

type Columns = NonNullable<ResolvedJobSpec['model']['progressive']>['columns'];

/** The name of column `column`'s layer in a progressive net: earlier columns are prefixed c0_, c1_, … */
export const columnLayerName = (column: number, name: string) => `c${column}_${name}`;

type Read = tf.SymbolicTensor | tf.SymbolicTensor[];

/**
 * Applies layers 0 … upTo − 1 of a stack or a graph to `input`, each to what it reads; `apply`
 * makes and applies layer `index` to `read`. Answers every applied layer's output, by index.
 */
function applyLayers(layers: LayerSpec[], input: tf.SymbolicTensor, upTo: number, apply: (layer: LayerSpec, index: number, read: Read) => tf.SymbolicTensor): tf.SymbolicTensor[] {
  const graph = resolveInputs(layers);
  // Checked at the column's own submission and at this one's: a failure here is a bug, not bad input.
  if ('message' in graph) throw new Error(`layer ${graph.index}: ${graph.message}`);
  const outputs: tf.SymbolicTensor[] = [];
  for (const [index, layer] of layers.slice(0, upTo).entries()) {
    const read = graph.inputs[index]!.map((source) => (source === MODEL_INPUT_INDEX ? input : outputs[source]!));
    outputs.push(apply(layer, index, read.length === 1 ? read[0]! : read));
  }
  return outputs;
}

/** What each dense layer reads, in list order: in a stack h_{k−1} of dense layer k. */
function denseInputs(layers: LayerSpec[], input: tf.SymbolicTensor, outputs: tf.SymbolicTensor[]): tf.SymbolicTensor[] {
  const graph = resolveInputs(layers);
  if ('message' in graph) throw new Error(`layer ${graph.index}: ${graph.message}`);
  return layers.flatMap((layer, index) => {
    if (layer.type !== 'dense') return [];
    const source = graph.inputs[index]![0]!;
    return source === MODEL_INPUT_INDEX ? [input] : outputs[source] ? [outputs[source]] : [];
  });
}

/**
 * A progressive network (Rusu et al. 2016) as one functional model. Each earlier column is a prior
 * job's dense model (a stack, or a graph of dense layers and merges) up to its last hidden layer (its
 * own output layer belongs to its task and is left out). In the new column, dense layer k ≥ 1 (in
 * list order) computes
 *   h_k = f(W_k x_k + b_k + Σ_j U_k^(j) x_k^(j))
 * where x_k is what the layer reads (h_{k−1} in a stack) and x_k^(j) what column j's dense layer k
 * reads: the lateral adapters U are linear layers named `<layer>_lateral_c<j>`.
 */
export function buildProgressive(columns: Columns, layers: LayerSpec[], inputShape: number[], createLayer: LayerFactory, seed: number): tf.LayersModel {
  const input = tf.input({ shape: inputShape, name: 'input' });
  // lateralInputs[j][k]: the tensor column j feeds its dense layer k.
  const lateralInputs = columns.map((column, j) => {
    const columnLayers = column.layers!;
    const outputs = applyLayers(columnLayers, input, outputLayerIndex(columnLayers), (layer, index, read) =>
      createLayer(layer, index, { name: columnLayerName(j, layerNameOf(layer, index)) }).apply(read) as tf.SymbolicTensor,
    );
    return denseInputs(columnLayers, input, outputs);
  });

  let dense = 0;
  const outputs = applyLayers(layers, input, layers.length, (layer, index, read) => {
    if (layer.type !== 'dense') return createLayer(layer, index).apply(read) as tf.SymbolicTensor;
    const laterals = dense === 0 ? [] : lateralInputs.flatMap((feeds, j) => (feeds[dense] ? [[j, feeds[dense]!] as const] : []));
    dense += 1;
    if (laterals.length === 0) return createLayer(layer, index).apply(read) as tf.SymbolicTensor;
    const name = layerNameOf(layer, index);
    const own = createLayer(layer, index, { activation: 'linear' }).apply(read) as tf.SymbolicTensor;
    const adapted = laterals.map(
      ([j, h]) =>
        tf.layers
          .dense({ name: `${name}_lateral_c${j}`, units: layer.units, useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: deriveSeed(seed, LATERAL_STREAM + 16 * index + j) }) })
          .apply(h) as tf.SymbolicTensor,
    );
    const sum = tf.layers.add({ name: `${name}_sum` }).apply([own, ...adapted]) as tf.SymbolicTensor;
    return layer.activation === 'linear' ? sum : (tf.layers.activation({ name: `${name}_activation`, activation: layer.activation }).apply(sum) as tf.SymbolicTensor);
  });
  return tf.model({ inputs: input, outputs: outputs.at(-1)! });
}

/** The layers of the earlier columns: loaded from their jobs and frozen. */
export function columnLayers(model: tf.LayersModel, column: number): tf.layers.Layer[] {
  return model.layers.filter((layer) => layer.name.startsWith(columnLayerName(column, '')));
}
