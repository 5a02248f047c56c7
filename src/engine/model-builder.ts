import * as tf from '@tensorflow/tfjs';
import { describeDataset } from '../spec/dataset-spec.js';
import { type ResolvedJobSpec } from '../spec/job-spec.js';
import { type LayerSpec } from '../spec/layer-spec.js';
import { definitionOf, initializerFields } from '../layers/registry.js';
import { isGraph, MODEL_INPUT_INDEX } from '../spec/layer-graph.js';
import { TrainingSpecError } from './events.js';
import { createLayer, type LayerFactory } from './layer-factory.js';
import type { StepClock } from './layers/seeded-dropout.js';
import { buildProgressive } from './progressive.js';
import { inferShapes } from '../spec/layer-shapes.js';
import { layerIndexOf, layerNameOf } from '../spec/weight-shapes.js';
import { resolveInitializer } from '../spec/initializer-spec.js';
import { initialValues } from './initializers.js';
import type { Objective } from './objective.js';
import { deriveSeed } from './random.js';

/**
 * The training objective of a spec for a built model: penalties come from the spec, and the
 * kernels each layer type names as penalised (a recurrent layer's input kernel, not its recurrent
 * one) get the layer's own L1/L2 or the global ones.
 */
export function buildObjective(spec: ResolvedJobSpec, built: BuiltModel): Objective {
  const { regularization } = spec;
  const weightPenalties: Objective['weightPenalties'] = [];
  spec.model.layers.forEach((layer, index) => {
    const penalized = definitionOf(layer).penalized ?? [];
    if (penalized.length === 0) return;
    const { l1, l2 } = ('kernelRegularizer' in layer ? layer.kernelRegularizer : undefined) ?? regularization;
    if (l1 === 0 && l2 === 0) return;
    // originalName: tfjs suffixes variable names (kernel_1, …) once an earlier model used them.
    for (const weight of built.model.getLayer(layerNameOf(layer, index)).trainableWeights) {
      if (penalized.some((name) => weight.originalName.endsWith(`/${name}`))) weightPenalties.push({ variable: weight.read() as tf.Variable, l1, l2 });
    }
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

/** A deeply supervised net's extra output (docs/techniques/regularization.md), trained but never exported. */
export interface AuxiliaryHead {
  /** The hidden layer it reads, by its name in the model: its loss is reported as aux_<layer>_loss. */
  layer: string;
  weight: number;
  /** α reaches 0 at the end of this epoch; null keeps it constant. */
  decayToZeroByEpoch: number | null;
}

export interface BuiltModel {
  /** The model as exported and evaluated: no auxiliary heads. Sequential, or functional for a progressive net. */
  model: tf.LayersModel;
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

/** `regression`: real-valued targets; known from the spec except for uploads, whose rows tell. */
export function buildModel(spec: ResolvedJobSpec, inputShape: number[], regression = (describeDataset(spec.dataset)?.classes ?? 1) === 0): BuiltModel {
  const clock: StepClock = { step: 0 };
  const layers = spec.model.layers;
  const shapes = inferShapes(inputShape, layers);
  if ('message' in shapes) throw new TrainingSpecError(`layer ${shapes.index}: ${shapes.message}`);
  const factory: LayerFactory = (layer, index, options = {}) => createLayer(layer, index, { seed: spec.seed, clock, inputShapes: shapes.inputShapes[index]!, ...options });
  let model: tf.LayersModel;
  if (spec.model.progressive) {
    model = buildProgressive(spec.model.progressive.columns, layers, inputShape, factory, spec.seed);
  } else if (isGraph(layers)) {
    model = buildGraph(layers, shapes.sources, inputShape, factory);
  } else {
    const sequential = tf.sequential();
    layers.forEach((layer, index) => sequential.add(factory(layer, index, index === 0 ? { inputShape } : {})));
    model = sequential;
  }
  applyInitializers(spec, model);
  const { training, heads } = attachHeads(spec, model);
  return { model, training, heads, clock, outputsProbabilities: outputsProbabilities(spec), regression };
}

/** A model whose layers name their inputs: a functional model over the same layer objects a stack would have. */
function buildGraph(layers: LayerSpec[], sources: number[][], inputShape: number[], factory: LayerFactory): tf.LayersModel {
  const input = tf.input({ shape: inputShape, name: 'input' });
  const outputs: tf.SymbolicTensor[] = [];
  layers.forEach((layer, index) => {
    const read = sources[index]!.map((source) => (source === MODEL_INPUT_INDEX ? input : outputs[source]!));
    outputs.push(factory(layer, index).apply(read.length === 1 ? read[0]! : read) as tf.SymbolicTensor);
  });
  return tf.model({ inputs: input, outputs: outputs.at(-1)! });
}

const HEAD_STREAM = 3000;
const INIT_STREAM = 5000;

/**
 * The spec's initializers replace the builder's defaults, weight by weight, with values drawn by
 * the catalogue's exact definitions (src/engine/initializers.ts).
 */
function applyInitializers(spec: ResolvedJobSpec, model: tf.LayersModel): void {
  spec.model.layers.forEach((layer, index) => {
    initializerFields(layer).forEach(({ weight: weightName, ref }, k) => {
      if (ref === undefined) return;
      const weight = model.getLayer(layerNameOf(layer, index)).weights.find((w) => w.originalName.endsWith(`/${weightName}`));
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
function attachHeads(spec: ResolvedJobSpec, model: tf.LayersModel): { training: tf.LayersModel; heads: AuxiliaryHead[] } {
  const specs = spec.model.auxiliaryHeads ?? [];
  if (specs.length === 0) return { training: model, heads: [] };
  const output = model.outputs[0]!;
  const units = output.shape.at(-1)!;
  const activation = finalActivation(spec) as 'linear';
  const heads: AuxiliaryHead[] = [];
  const headOutputs = specs.map((head, h) => {
    const index = layerIndexOf(spec.model.layers, head.after)!;
    const hidden = model.getLayer(layerNameOf(spec.model.layers[index]!, index));
    let x = hidden.output as tf.SymbolicTensor;
    if (output.shape.length === 2 && x.shape.length > 2) x = tf.layers.flatten({ name: `aux_${hidden.name}_flatten` }).apply(x) as tf.SymbolicTensor;
    heads.push({ layer: hidden.name, weight: head.weight, decayToZeroByEpoch: head.decayToZeroByEpoch ?? null });
    return tf.layers
      .dense({ name: `aux_${hidden.name}`, units, activation, kernelInitializer: tf.initializers.glorotUniform({ seed: deriveSeed(spec.seed, HEAD_STREAM + h) }) })
      .apply(x) as tf.SymbolicTensor;
  });
  return { training: tf.model({ inputs: model.inputs, outputs: [output, ...headOutputs] }), heads };
}

/** Whether the model's outputs are already probabilities (its last layer applies the loss's link). */
export function outputsProbabilities(spec: ResolvedJobSpec): boolean {
  return finalActivation(spec) === (spec.loss === 'binaryCrossentropy' ? 'sigmoid' : 'softmax');
}

function finalActivation(spec: ResolvedJobSpec): string {
  for (let i = spec.model.layers.length - 1; i >= 0; i--) {
    const layer = spec.model.layers[i]!;
    if (layer.type === 'dense' || layer.type === 'activation' || layer.type === 'conv2d') return layer.activation;
  }
  return 'linear';
}
