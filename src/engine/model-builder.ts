import * as tf from '@tensorflow/tfjs';
import { describeDataset, type LayerSpec, type ResolvedJobSpec } from '../spec/job-spec.js';
import { TrainingSpecError } from './events.js';
import { RecurrentLayer } from './layers/recurrent.js';
import { SeededDropout, type StepClock } from './layers/seeded-dropout.js';
import { inferShapes } from '../spec/layer-shapes.js';
import { resolveInitializer, type InitializerRef } from '../spec/initializer-spec.js';
import { headLayerIndex } from '../spec/model-checks.js';
import { initialValues } from './initializers.js';
import type { Objective } from './objective.js';
import { deriveSeed } from './random.js';

type KernelLayer = Extract<LayerSpec, { type: 'dense' | 'conv2d' | 'simpleRnn' | 'lstm' | 'gru' }>;
const kernelLayerTypes = new Set<LayerSpec['type']>(['dense', 'conv2d', 'simpleRnn', 'lstm', 'gru']);
const hasKernel = (layer: LayerSpec): layer is KernelLayer => kernelLayerTypes.has(layer.type);

/**
 * The training objective of a spec for a built model: penalties come from the spec, and each
 * dense, conv2d and recurrent layer's kernel (the input kernel, not the recurrent one) gets its
 * own L1/L2 or the global ones.
 */
export function buildObjective(spec: ResolvedJobSpec, built: BuiltModel): Objective {
  const { regularization } = spec;
  const weightPenalties: Objective['weightPenalties'] = [];
  spec.model.layers.forEach((layer, index) => {
    if (!hasKernel(layer)) return;
    const { l1, l2 } = layer.kernelRegularizer ?? regularization;
    if (l1 === 0 && l2 === 0) return;
    // originalName: tfjs suffixes variable names (kernel_1, …) once an earlier model used them.
    const kernel = built.model.layers[index]!.trainableWeights.find((weight) => weight.originalName.endsWith('/kernel'));
    if (kernel) weightPenalties.push({ variable: kernel.read() as tf.Variable, l1, l2 });
  });
  return {
    loss: spec.loss,
    probabilities: built.outputsProbabilities,
    regression: built.regression,
    labelSmoothing: regularization.labelSmoothing,
    confidencePenalty: regularization.confidencePenalty,
    entropyThreshold: regularization.entropyThreshold ?? null,
    weightPenalties,
  };
}

/** A deeply supervised net's extra output (TECHNIQUES.md 2), trained but never exported. */
export interface AuxiliaryHead {
  /** The hidden layer it reads, by its name in the model: its loss is reported as aux_<layer>_loss. */
  layer: string;
  weight: number;
  /** α reaches 0 at the end of this epoch; null keeps it constant. */
  decayToZeroByEpoch: number | null;
}

export interface BuiltModel {
  /** The model as exported and evaluated: no auxiliary heads. */
  model: tf.Sequential;
  /** What training runs: `model`, or a model sharing its layers that also outputs each head. */
  training: tf.LayersModel;
  heads: AuxiliaryHead[];
  /** Set to the current step before each training forward pass (dropout masks derive from it). */
  clock: StepClock;
  /** The last layer applies the loss's link (softmax, or sigmoid for binary cross-entropy), so the loss takes probabilities rather than logits. */
  outputsProbabilities: boolean;
  /** Real-valued targets. */
  regression: boolean;
}

// Distinct seed streams so adding a dropout layer does not change the initial weights of the others.
const WEIGHT_STREAM = 1000;
const DROPOUT_STREAM = 2000;
const RECURRENT_STREAM = 4000;

/** `regression`: real-valued targets; known from the spec except for uploads, whose rows tell. */
export function buildModel(spec: ResolvedJobSpec, inputShape: number[], regression = (describeDataset(spec.dataset)?.classes ?? 1) === 0): BuiltModel {
  const model = tf.sequential();
  const clock: StepClock = { step: 0 };
  const layers = spec.model.layers;
  const shapes = inferShapes(inputShape, layers);
  if ('message' in shapes) throw new TrainingSpecError(`layer ${shapes.index}: ${shapes.message}`);
  const inputShapeOf = (index: number) => (index === 0 ? inputShape : shapes.shapes[index - 1]!);
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
      case 'embedding':
        model.add(
          tf.layers.embedding({
            name,
            inputShape: shape,
            inputDim: layer.inputDim,
            outputDim: layer.outputDim,
            embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: deriveSeed(spec.seed, WEIGHT_STREAM + index) }),
          }),
        );
        break;
      case 'simpleRnn':
      case 'lstm':
      case 'gru': {
        const irnn = layer.type === 'simpleRnn' && layer.irnn;
        const steps = inputShapeOf(index)[0]!;
        const batchNorm = layer.type === 'lstm' ? layer.recurrentBatchNorm : undefined;
        model.add(
          new RecurrentLayer({
            name,
            inputShape: shape,
            cell: layer.type,
            units: layer.units,
            activation: irnn ? 'relu' : layer.activation,
            returnSequences: layer.returnSequences,
            dropout: layer.dropout,
            recurrentDropout: layer.dropoutMode === 'variational' ? (layer.recurrentDropout ?? layer.dropout) : 0,
            dropoutMode: layer.dropoutMode,
            recurrentBatchNorm: batchNorm ? { ...batchNorm, maxSteps: batchNorm.maxSteps ?? steps } : null,
            layerNorm: layer.layerNorm,
            kernelInitializer: tf.initializers.glorotUniform({ seed: deriveSeed(spec.seed, WEIGHT_STREAM + index) }),
            // IRNN (Le et al. 2015): identity recurrence; otherwise Keras's orthogonal default.
            recurrentInitializer: irnn
              ? tf.initializers.identity({ gain: 1 })
              : tf.initializers.orthogonal({ gain: 1, seed: deriveSeed(spec.seed, RECURRENT_STREAM + index) }),
            biasInitializer: tf.initializers.zeros(),
            seed: deriveSeed(spec.seed, DROPOUT_STREAM + index),
            clock,
          }),
        );
        break;
      }
    }
  });
  applyInitializers(spec, model);
  const link = spec.loss === 'binaryCrossentropy' ? 'sigmoid' : 'softmax';
  const { training, heads } = attachHeads(spec, model);
  return { model, training, heads, clock, outputsProbabilities: finalActivation(spec) === link, regression };
}

const HEAD_STREAM = 3000;
const INIT_STREAM = 5000;

/**
 * The spec's initializers replace the builder's defaults, weight by weight, with values drawn by
 * the catalogue's exact definitions (src/engine/initializers.ts).
 */
function applyInitializers(spec: ResolvedJobSpec, model: tf.Sequential): void {
  spec.model.layers.forEach((layer, index) => {
    const refs: [string, InitializerRef | undefined][] = [
      ['/kernel', 'kernelInitializer' in layer ? layer.kernelInitializer : undefined],
      ['/recurrent_kernel', 'recurrentInitializer' in layer ? layer.recurrentInitializer : undefined],
      ['/bias', 'biasInitializer' in layer ? layer.biasInitializer : undefined],
    ];
    refs.forEach(([suffix, ref], k) => {
      if (ref === undefined) return;
      const weight = model.layers[index]!.weights.find((w) => w.originalName.endsWith(suffix));
      if (!weight) return;
      const values = initialValues(resolveInitializer(ref), weight.shape as number[], deriveSeed(spec.seed, INIT_STREAM + 4 * index + k));
      weight.write(values);
      values.dispose();
    });
  });
}

/**
 * A functional model over the same layers with one more output per auxiliary head: flatten (when
 * the output is flat and the hidden layer is not), then a dense layer like the output layer.
 */
function attachHeads(spec: ResolvedJobSpec, model: tf.Sequential): { training: tf.LayersModel; heads: AuxiliaryHead[] } {
  const specs = spec.model.auxiliaryHeads ?? [];
  if (specs.length === 0) return { training: model, heads: [] };
  const output = model.outputs[0]!;
  const units = output.shape.at(-1)!;
  const activation = finalActivation(spec) as 'linear';
  const heads: AuxiliaryHead[] = [];
  const headOutputs = specs.map((head, h) => {
    const index = headLayerIndex(spec.model.layers, head.after)!;
    const hidden = model.layers[index]!;
    let x = hidden.output as tf.SymbolicTensor;
    if (output.shape.length === 2 && x.shape.length > 2) x = tf.layers.flatten({ name: `aux_${hidden.name}_flatten` }).apply(x) as tf.SymbolicTensor;
    heads.push({ layer: hidden.name, weight: head.weight, decayToZeroByEpoch: head.decayToZeroByEpoch ?? null });
    return tf.layers
      .dense({ name: `aux_${hidden.name}`, units, activation, kernelInitializer: tf.initializers.glorotUniform({ seed: deriveSeed(spec.seed, HEAD_STREAM + h) }) })
      .apply(x) as tf.SymbolicTensor;
  });
  return { training: tf.model({ inputs: model.inputs, outputs: [output, ...headOutputs] }), heads };
}

function finalActivation(spec: ResolvedJobSpec): string {
  for (let i = spec.model.layers.length - 1; i >= 0; i--) {
    const layer = spec.model.layers[i]!;
    if (layer.type === 'dense' || layer.type === 'activation' || layer.type === 'conv2d') return layer.activation;
  }
  return 'linear';
}
