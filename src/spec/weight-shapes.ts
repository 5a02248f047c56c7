import type { LayerSpec } from './layer-spec.js';
import type { Shape } from './layer-shapes.js';

export interface LayerWeights {
  /** The layer's name in the model: its `name`, or `<type>_<index>`. */
  layer: string;
  /** `<layer>/<weight>` → shape, as the model's weights are named in checkpoints. */
  weights: Record<string, number[]>;
}

export const layerNameOf = (layer: LayerSpec, index: number) => layer.name ?? `${layer.type}_${index}`;

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
 * a transfer against a checkpoint without building the model). `inputs[i]` is layer i's input shape.
 * test/spec/weight-shapes.test.ts holds this to what TF.js builds.
 */
export function modelWeights(layers: LayerSpec[], inputs: Shape[]): LayerWeights[] {
  return layers.map((layer, index) => {
    const name = layerNameOf(layer, index);
    const input = inputs[index]!;
    const last = input.at(-1)!;
    const weights: Record<string, number[]> = {};
    const add = (weight: string, shape: number[]) => (weights[`${name}/${weight}`] = shape);
    switch (layer.type) {
      case 'dense':
        add('kernel', [last, layer.units]);
        if (layer.useBias) add('bias', [layer.units]);
        break;
      case 'conv2d': {
        const [kh, kw] = typeof layer.kernelSize === 'number' ? [layer.kernelSize, layer.kernelSize] : layer.kernelSize;
        add('kernel', [kh, kw, last, layer.filters]);
        if (layer.useBias) add('bias', [layer.filters]);
        break;
      }
      case 'batchNormalization':
        for (const weight of ['gamma', 'beta', 'moving_mean', 'moving_variance']) add(weight, [last]);
        break;
      case 'layerNormalization':
        add('gamma', [last]);
        add('beta', [last]);
        break;
      case 'embedding':
        add('embeddings', [layer.inputDim, layer.outputDim]);
        break;
      case 'simpleRnn':
      case 'lstm':
      case 'gru': {
        const units = layer.units;
        const width = { simpleRnn: 1, lstm: 4, gru: 3 }[layer.type] * units;
        add('kernel', [last, width]);
        add('recurrent_kernel', [units, width]);
        add('bias', [width]);
        const batchNorm = layer.type === 'lstm' ? layer.recurrentBatchNorm : undefined;
        if (batchNorm) {
          const steps = batchNorm.maxSteps ?? input[0]!;
          add('bn_x_gamma', [width]);
          add('bn_h_gamma', [width]);
          add('bn_c_gamma', [units]);
          add('bn_c_beta', [units]);
          for (const [part, size] of [['x', width], ['h', width], ['c', units]] as const) {
            add(`bn_${part}_moving_mean`, [steps, size]);
            add(`bn_${part}_moving_variance`, [steps, size]);
          }
        }
        if (layer.layerNorm) {
          for (const part of ['x', 'h']) {
            add(`ln_${part}_gamma`, [width]);
            add(`ln_${part}_beta`, [width]);
          }
          if (layer.type === 'lstm') {
            add('ln_c_gamma', [units]);
            add('ln_c_beta', [units]);
          }
        }
        break;
      }
      default:
        break;
    }
    return { layer: name, weights };
  });
}
