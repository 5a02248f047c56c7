import * as tf from '@tensorflow/tfjs';
import { buildModel } from '../src/engine/model-builder.js';
import { createOptimizer } from '../src/engine/optimizers/create-optimizer.js';
import type { TrainingOptimizer } from '../src/engine/optimizers/training-optimizer.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../src/spec/job-spec.js';

/**
 * The graph models of issue 23's bench, as job specs built by the engine's own builder (a graph:
 * layers name their inputs). bench/graph_throughput.py builds the same models in PyTorch, in the
 * same order; keep the two lists in step.
 */
export interface GraphBenchModel {
  name: string;
  batch: number;
  inputShape: number[];
  /** Inputs are token ids 0 … vocabulary − 1 (float32, as the trainer feeds a token data set) when set; uniform [0, 1) otherwise. */
  vocabulary?: number;
  layers: JobSpecInput['model']['layers'];
}

export const VOCABULARY = 1000;
export const D_MODEL = 64;
export const HEADS = 4;
/** 4 × d, the usual ratio (PyTorch's own default of 2048 would be 32 × d). */
export const FF_DIM = 256;
export const SEQUENCE = 32;

type Layer = JobSpecInput['model']['layers'][number];

/** Conv (no bias: batch norm follows) → batch norm, optionally relu after. */
function convBn(name: string, input: string, filters: number, kernelSize: number, strides: number, relu: boolean): Layer[] {
  const layers: Layer[] = [
    { type: 'conv2d', name: `${name}_conv`, inputs: [input], filters, kernelSize, strides, padding: 'same', useBias: false },
    { type: 'batchNormalization', name: `${name}_bn`, epsilon: 1e-5, momentum: 0.9 },
  ];
  if (relu) layers.push({ type: 'activation', name: `${name}_relu`, activation: 'relu' });
  return layers;
}

/** A basic residual block (He et al. 2016): conv-bn-relu-conv-bn, plus the input (a strided 1×1 conv + bn when the shape changes), then relu. */
function residualBlock(name: string, input: string, inFilters: number, filters: number, strides: number): { layers: Layer[]; output: string } {
  const layers = [...convBn(`${name}_a`, input, filters, 3, strides, true), ...convBn(`${name}_b`, `${name}_a_relu`, filters, 3, 1, false)];
  let shortcut = input;
  if (strides !== 1 || inFilters !== filters) {
    layers.push(...convBn(`${name}_short`, input, filters, 1, strides, false));
    shortcut = `${name}_short_bn`;
  }
  layers.push({ type: 'add', name: `${name}_add`, inputs: [`${name}_b_bn`, shortcut] }, { type: 'activation', name: `${name}_out`, activation: 'relu' });
  return { layers, output: `${name}_out` };
}

function resnet8(): Layer[] {
  const layers: Layer[] = convBn('stem', 'input', 16, 3, 1, true);
  let previous = 'stem_relu';
  let width = 16;
  for (const [stage, filters, strides] of [[1, 16, 1], [2, 32, 2], [3, 64, 2]] as const) {
    const block = residualBlock(`stage${stage}`, previous, width, filters, strides);
    layers.push(...block.layers);
    previous = block.output;
    width = filters;
  }
  layers.push({ type: 'globalAvgPool', name: 'pool', inputs: [previous] }, { type: 'dense', name: 'logits', units: 10 });
  return layers;
}

export const graphModels: GraphBenchModel[] = [
  {
    name: `Transformer encoder ×2, d ${D_MODEL}, ${HEADS} heads, ff ${FF_DIM}, seq ${SEQUENCE}`,
    batch: 64,
    inputShape: [SEQUENCE],
    vocabulary: VOCABULARY,
    layers: [
      { type: 'embedding', name: 'tokens', inputs: ['input'], inputDim: VOCABULARY, outputDim: D_MODEL },
      { type: 'positionalEmbedding', name: 'positions', mode: 'sinusoidal' },
      { type: 'transformerEncoder', name: 'encoder1', numHeads: HEADS, ffDim: FF_DIM },
      { type: 'transformerEncoder', name: 'encoder2', numHeads: HEADS, ffDim: FF_DIM },
      { type: 'globalAvgPool', name: 'pool' },
      { type: 'dense', name: 'logits', units: 10 },
    ],
  },
  {
    name: 'ResNet-8 28x28x1 (16-32-64, batch norm)',
    batch: 64,
    inputShape: [28, 28, 1],
    layers: resnet8(),
  },
];

/** The engine's model of a bench spec (an uploaded data set of 10 classes, Adam), as a job would build it. */
export function buildGraphModel(benchModel: GraphBenchModel): tf.LayersModel {
  const dataset = { name: 'upload', id: '00000000-0000-4000-8000-000000000000' } as const;
  const spec = resolveJobSpec(jobSpecSchema.parse({ dataset, model: { layers: benchModel.layers }, optimizer: 'adam', seed: 1 }), { datasetClasses: 10 });
  return buildModel(spec, benchModel.inputShape, false).model;
}

/** The model, its Adam (the product's own, as the trainer's), and one fixed synthetic batch with one-hot labels of 10 classes. */
export function graphSetup(benchModel: GraphBenchModel): { model: tf.LayersModel; optimizer: TrainingOptimizer; x: tf.Tensor; y: tf.Tensor } {
  const shape = [benchModel.batch, ...benchModel.inputShape];
  return {
    model: buildGraphModel(benchModel),
    optimizer: createOptimizer({ type: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }),
    x: benchModel.vocabulary ? tf.tidy(() => tf.floor(tf.randomUniform(shape, 0, benchModel.vocabulary))) : tf.randomUniform(shape),
    y: tf.oneHot(tf.randomUniform([benchModel.batch], 0, 10, 'int32'), 10).toFloat(),
  };
}
