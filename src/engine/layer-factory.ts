import * as tf from '@tensorflow/tfjs';
import { Conv2D } from './layers/conv2d.js';
import type { LayerSpec } from '../spec/layer-spec.js';
import { layerNameOf } from '../spec/weight-shapes.js';
import { RecurrentLayer } from './layers/recurrent.js';
import { SeededDropout, type StepClock } from './layers/seeded-dropout.js';
import { BatchNormalization } from './layers/batch-normalization.js';
import { deriveSeed } from './random.js';
import { resolveInitializer, type InitializerRef } from '../spec/initializer-spec.js';

// Distinct seed streams so adding a dropout layer does not change the initial weights of the others.
export const WEIGHT_STREAM = 1000;
const DROPOUT_STREAM = 2000;
const RECURRENT_STREAM = 4000;

export interface LayerContext {
  /** The job's seed: each layer's weights and dropout masks derive from it and the layer's index. */
  seed: number;
  clock: StepClock;
  /** The layer's input shape, without the batch dimension. */
  layerInput: number[];
  /** Given to the first layer of a sequential model. */
  inputShape?: number[];
  /** Overrides the spec's name (e.g. a progressive net's earlier column prefixes its layers). */
  name?: string;
  /** Overrides a dense or conv2d layer's activation (a progressive column adds laterals before it). */
  activation?: 'linear';
}

export type LayerFactory = (layer: LayerSpec, index: number, options?: Partial<Pick<LayerContext, 'inputShape' | 'name' | 'activation'>>) => tf.layers.Layer;

/** The TF.js layer of one layer spec: seeded Glorot kernels and zero biases unless an initializer says otherwise. */
export function createLayer(layer: LayerSpec, index: number, context: LayerContext): tf.layers.Layer {
  const { seed, clock, inputShape: shape } = context;
  const name = context.name ?? layerNameOf(layer, index);
  const kernelLayerArgs = (kernel: Extract<LayerSpec, { type: 'dense' | 'conv2d' }>) => ({
    activation: context.activation ?? kernel.activation,
    useBias: kernel.useBias,
    // The values are drawn again by src/engine/initializers.ts when the spec names one; these make the exported config name it.
    kernelInitializer: kernel.kernelInitializer ? namedInitializer(kernel.kernelInitializer) : tf.initializers.glorotUniform({ seed: deriveSeed(seed, WEIGHT_STREAM + index) }),
    biasInitializer: kernel.biasInitializer ? namedInitializer(kernel.biasInitializer) : tf.initializers.zeros(),
  });
  switch (layer.type) {
    case 'dense':
      return tf.layers.dense({ name, inputShape: shape, ...kernelLayerArgs(layer), units: layer.units });
    case 'activation':
      return tf.layers.activation({ name, inputShape: shape, activation: layer.activation });
    case 'conv2d':
      return new Conv2D({
        name,
        inputShape: shape,
        ...kernelLayerArgs(layer),
        filters: layer.filters,
        kernelSize: layer.kernelSize,
        strides: layer.strides,
        padding: layer.padding,
      });
    case 'maxPool2d':
    case 'avgPool2d': {
      const args = { name, inputShape: shape, poolSize: layer.poolSize, strides: layer.strides ?? layer.poolSize, padding: layer.padding };
      return layer.type === 'maxPool2d' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args);
    }
    case 'flatten':
      return tf.layers.flatten({ name, inputShape: shape });
    case 'batchNormalization':
      return new BatchNormalization({ name, ...(shape ? { inputShape: shape } : {}), momentum: layer.momentum, epsilon: layer.epsilon, center: layer.center, scale: layer.scale });
    case 'layerNormalization':
      return tf.layers.layerNormalization({ name, inputShape: shape, epsilon: layer.epsilon });
    case 'reshape':
      return tf.layers.reshape({ name, inputShape: shape, targetShape: layer.targetShape });
    case 'dropout':
      return new SeededDropout({
        name,
        ...(shape ? { inputShape: shape } : {}),
        rate: layer.rate,
        seed: deriveSeed(seed, DROPOUT_STREAM + index),
        clock,
        ...(layer.noiseShape ? { noiseShape: layer.noiseShape } : {}),
      });
    case 'embedding':
      return tf.layers.embedding({
        name,
        inputShape: shape,
        inputDim: layer.inputDim,
        outputDim: layer.outputDim,
        embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: deriveSeed(seed, WEIGHT_STREAM + index) }),
      });
    case 'simpleRnn':
    case 'lstm':
    case 'gru': {
      const irnn = layer.type === 'simpleRnn' && layer.irnn;
      const batchNorm = layer.type === 'lstm' ? layer.recurrentBatchNorm : undefined;
      return new RecurrentLayer({
        name,
        inputShape: shape,
        cell: layer.type,
        units: layer.units,
        activation: irnn ? 'relu' : (layer.activation ?? 'tanh'),
        returnSequences: layer.returnSequences,
        dropout: layer.dropout,
        recurrentDropout: layer.dropoutMode === 'variational' ? (layer.recurrentDropout ?? layer.dropout) : 0,
        dropoutMode: layer.dropoutMode,
        recurrentBatchNorm: batchNorm ? { ...batchNorm, maxSteps: batchNorm.maxSteps ?? context.layerInput[0]! } : null,
        layerNorm: layer.layerNorm,
        kernelInitializer: tf.initializers.glorotUniform({ seed: deriveSeed(seed, WEIGHT_STREAM + index) }),
        // IRNN (Le et al. 2015): identity recurrence; otherwise Keras's orthogonal default.
        recurrentInitializer: irnn ? tf.initializers.identity({ gain: 1 }) : tf.initializers.orthogonal({ gain: 1, seed: deriveSeed(seed, RECURRENT_STREAM + index) }),
        biasInitializer: tf.initializers.zeros(),
        seed: deriveSeed(seed, DROPOUT_STREAM + index),
        clock,
      });
    }
  }
}

/**
 * The TF.js initializer that names a spec initializer in an exported model.json. Only the name
 * matters: training draws the values itself. TF.js knows no untruncated normal, so glorotNormal and
 * heNormal are named by their TF.js classes, which truncate (docs/techniques/initialization.md).
 */
function namedInitializer(ref: InitializerRef): ReturnType<typeof tf.initializers.zeros> {
  const config = resolveInitializer(ref);
  switch (config.type) {
    case 'uniform':
      return tf.initializers.randomUniform({ minval: -config.limit, maxval: config.limit });
    case 'normal':
      return tf.initializers.randomNormal({ mean: config.mean, stddev: config.stddev });
    case 'zeros':
      return tf.initializers.zeros();
    case 'constant':
      return tf.initializers.constant({ value: config.value });
    case 'glorotUniform':
      return tf.initializers.glorotUniform({});
    case 'glorotNormal':
      return tf.initializers.glorotNormal({});
    case 'heNormal':
      return tf.initializers.heNormal({});
    case 'heUniform':
      return tf.initializers.heUniform({});
    case 'orthogonal':
      return tf.initializers.orthogonal({ gain: config.gain });
    case 'identity':
      return tf.initializers.identity({ gain: config.gain });
  }
}
