import * as tf from '@tensorflow/tfjs';
import type { ResolvedJobSpec } from '../spec/job-spec.js';
import type { LayerSpec } from '../spec/layer-spec.js';
import { layerNameOf, outputLayerIndex } from '../spec/weight-shapes.js';
import type { LayerFactory } from './layer-factory.js';
import { deriveSeed } from './random.js';

const LATERAL_STREAM = 6000;

type Columns = NonNullable<ResolvedJobSpec['model']['progressive']>['columns'];

/** The name of column `column`'s layer in a progressive net: earlier columns are prefixed c0_, c1_, … */
export const columnLayerName = (column: number, name: string) => `c${column}_${name}`;

/**
 * A progressive network (Rusu et al. 2016) as one functional model. Each earlier column is a prior
 * job's dense stack up to its last hidden layer (its own output layer belongs to its task and is
 * left out). In the new column, dense layer k ≥ 1 computes
 *   h_k = f(W_k h_{k−1} + b_k + Σ_j U_k^(j) h_{k−1}^(j))
 * where h_{k−1}^(j) is what column j feeds its own dense layer k: the lateral adapters U are
 * linear layers named `<layer>_lateral_c<j>`.
 */
export function buildProgressive(columns: Columns, layers: LayerSpec[], inputShape: number[], createLayer: LayerFactory, seed: number): tf.LayersModel {
  const input = tf.input({ shape: inputShape, name: 'input' });
  // lateralInputs[j][k]: the tensor column j feeds its dense layer k.
  const lateralInputs = columns.map((column, j) => {
    const columnLayers = column.layers!;
    const output = outputLayerIndex(columnLayers);
    const feeds: tf.SymbolicTensor[] = [];
    let x: tf.SymbolicTensor = input;
    columnLayers.slice(0, output + 1).forEach((layer, index) => {
      if (layer.type === 'dense') feeds.push(x);
      if (index < output) x = createLayer(layer, index, { name: columnLayerName(j, layerNameOf(layer, index)) }).apply(x) as tf.SymbolicTensor;
    });
    return feeds;
  });

  let x: tf.SymbolicTensor = input;
  let dense = 0;
  layers.forEach((layer, index) => {
    if (layer.type !== 'dense') {
      x = createLayer(layer, index).apply(x) as tf.SymbolicTensor;
      return;
    }
    const laterals = dense === 0 ? [] : lateralInputs.flatMap((feeds, j) => (feeds[dense] ? [[j, feeds[dense]!] as const] : []));
    dense += 1;
    if (laterals.length === 0) {
      x = createLayer(layer, index).apply(x) as tf.SymbolicTensor;
      return;
    }
    const name = layerNameOf(layer, index);
    const own = createLayer(layer, index, { activation: 'linear' }).apply(x) as tf.SymbolicTensor;
    const adapted = laterals.map(
      ([j, h]) =>
        tf.layers
          .dense({ name: `${name}_lateral_c${j}`, units: layer.units, useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: deriveSeed(seed, LATERAL_STREAM + 16 * index + j) }) })
          .apply(h) as tf.SymbolicTensor,
    );
    x = tf.layers.add({ name: `${name}_sum` }).apply([own, ...adapted]) as tf.SymbolicTensor;
    if (layer.activation !== 'linear') x = tf.layers.activation({ name: `${name}_activation`, activation: layer.activation }).apply(x) as tf.SymbolicTensor;
  });
  return tf.model({ inputs: input, outputs: x });
}

/** The layers of the earlier columns: loaded from their jobs and frozen. */
export function columnLayers(model: tf.LayersModel, column: number): tf.layers.Layer[] {
  return model.layers.filter((layer) => layer.name.startsWith(columnLayerName(column, '')));
}
