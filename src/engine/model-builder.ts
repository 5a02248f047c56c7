import * as tf from '@tensorflow/tfjs';
import type { LayerSpec, ResolvedJobSpec } from '../spec/job-spec.js';
import { SeededDropout, type StepClock } from './layers/seeded-dropout.js';
import type { Objective } from './objective.js';
import { deriveSeed } from './random.js';

/**
 * The training objective of a spec for a built model: penalties come from the spec, and each
 * dense/conv2d layer's kernel gets its own L1/L2 or the global ones.
 */
export function buildObjective(spec: ResolvedJobSpec, built: BuiltModel): Objective {
  const { regularization } = spec;
  const weightPenalties: Objective['weightPenalties'] = [];
  spec.model.layers.forEach((layer, index) => {
    if (layer.type !== 'dense' && layer.type !== 'conv2d') return;
    const { l1, l2 } = layer.kernelRegularizer ?? regularization;
    if (l1 === 0 && l2 === 0) return;
    // originalName: tfjs suffixes variable names (kernel_1, …) once an earlier model used them.
    const kernel = built.model.layers[index]!.trainableWeights.find((weight) => weight.originalName.endsWith('/kernel'));
    if (kernel) weightPenalties.push({ variable: kernel.read() as tf.Variable, l1, l2 });
  });
  return {
    probabilities: built.outputsProbabilities,
    labelSmoothing: regularization.labelSmoothing,
    confidencePenalty: regularization.confidencePenalty,
    entropyThreshold: regularization.entropyThreshold ?? null,
    weightPenalties,
  };
}

export interface BuiltModel {
  model: tf.Sequential;
  /** Set to the current step before each training forward pass (dropout masks derive from it). */
  clock: StepClock;
  /** The last layer applies softmax, so the loss must take probabilities rather than logits. */
  outputsProbabilities: boolean;
}

// Distinct seed streams so adding a dropout layer does not change the initial weights of the others.
const WEIGHT_STREAM = 1000;
const DROPOUT_STREAM = 2000;

export function buildModel(spec: ResolvedJobSpec, inputShape: number[]): BuiltModel {
  const model = tf.sequential();
  const clock: StepClock = { step: 0 };
  const layers = spec.model.layers;
  // What every layer with a kernel shares besides its name and input shape: seeded Glorot kernel, zero bias.
  const kernelLayerArgs = (layer: Extract<LayerSpec, { type: 'dense' | 'conv2d' }>, index: number) => ({
    activation: layer.activation,
    useBias: layer.useBias,
    kernelInitializer: tf.initializers.glorotUniform({ seed: deriveSeed(spec.seed, WEIGHT_STREAM + index) }),
    biasInitializer: 'zeros' as const,
  });
  layers.forEach((layer, index) => {
    const shape = index === 0 ? inputShape : undefined;
    const name = layer.name ?? `${layer.type}_${index}`;
    switch (layer.type) {
      case 'dense':
        model.add(tf.layers.dense({ name, inputShape: shape, ...kernelLayerArgs(layer, index), units: layer.units }));
        break;
      case 'activation':
        model.add(tf.layers.activation({ name, inputShape: shape, activation: layer.activation }));
        break;
      case 'conv2d':
        model.add(
          tf.layers.conv2d({
            name,
            inputShape: shape,
            ...kernelLayerArgs(layer, index),
            filters: layer.filters,
            kernelSize: layer.kernelSize,
            strides: layer.strides,
            padding: layer.padding,
          }),
        );
        break;
      case 'maxPool2d':
      case 'avgPool2d': {
        const args = { name, inputShape: shape, poolSize: layer.poolSize, strides: layer.strides ?? layer.poolSize, padding: layer.padding };
        model.add(layer.type === 'maxPool2d' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args));
        break;
      }
      case 'flatten':
        model.add(tf.layers.flatten({ name, inputShape: shape }));
        break;
      case 'batchNormalization':
        model.add(tf.layers.batchNormalization({ name, inputShape: shape, momentum: layer.momentum, epsilon: layer.epsilon }));
        break;
      case 'layerNormalization':
        model.add(tf.layers.layerNormalization({ name, inputShape: shape, epsilon: layer.epsilon }));
        break;
      case 'reshape':
        model.add(tf.layers.reshape({ name, inputShape: shape, targetShape: layer.targetShape }));
        break;
      case 'dropout':
        model.add(new SeededDropout({ name, inputShape: shape, rate: layer.rate, seed: deriveSeed(spec.seed, DROPOUT_STREAM + index), clock }));
        break;
    }
  });
  return { model, clock, outputsProbabilities: finalActivation(spec) === 'softmax' };
}

function finalActivation(spec: ResolvedJobSpec): string {
  for (let i = spec.model.layers.length - 1; i >= 0; i--) {
    const layer = spec.model.layers[i]!;
    if (layer.type === 'dense' || layer.type === 'activation' || layer.type === 'conv2d') return layer.activation;
  }
  return 'linear';
}
