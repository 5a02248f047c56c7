import * as tf from '@tensorflow/tfjs';
import { definitionOf, type LayerSpec } from '../layers/registry.js';
import { layerNameOf } from '../spec/layer-graph.js';
import type { StepClock } from './layers/seeded-dropout.js';
import { layerKit } from './layer-kit.js';
import { deriveSeed } from './random.js';

// Distinct seed streams so adding a dropout layer does not change the initial weights of the others.
export const WEIGHT_STREAM = 1000;
const DROPOUT_STREAM = 2000;
const EXTRA_WEIGHT_STREAM = 4000;

export interface LayerContext {
  /** The job's seed: each layer's weights and dropout masks derive from it and the layer's index. */
  seed: number;
  clock: StepClock;
  /** The shapes of the layer's inputs, without the batch dimension. */
  inputShapes: number[][];
  /** Given to the first layer of a sequential model. */
  inputShape?: number[];
  /** Overrides the spec's name (e.g. a progressive net's earlier column prefixes its layers). */
  name?: string;
  /** Overrides a layer's activation (a progressive column adds laterals before it). */
  activation?: 'linear';
}

export type LayerFactory = (layer: LayerSpec, index: number, options?: Partial<Pick<LayerContext, 'inputShape' | 'name' | 'activation'>>) => tf.layers.Layer;

/** The TF.js layer of one layer spec, built by its type's module in src/layers/. */
export function createLayer(layer: LayerSpec, index: number, context: LayerContext): tf.layers.Layer {
  return definitionOf(layer).build(layer, {
    tf,
    kit: layerKit,
    name: context.name ?? layerNameOf(layer, index),
    inputShapes: context.inputShapes,
    ...(context.inputShape ? { inputShape: context.inputShape } : {}),
    seeds: {
      weight: deriveSeed(context.seed, WEIGHT_STREAM + index),
      extraWeight: deriveSeed(context.seed, EXTRA_WEIGHT_STREAM + index),
      dropout: deriveSeed(context.seed, DROPOUT_STREAM + index),
    },
    clock: context.clock,
    ...(context.activation ? { activation: context.activation } : {}),
  });
}
