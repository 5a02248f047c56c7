import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/engine/model-builder.js';
import { inferShapes } from '../../src/spec/layer-shapes.js';
import { modelWeights } from '../../src/spec/weight-shapes.js';
import type { JobSpecInput } from '../../src/spec/job-spec.js';
import { resolveSpec } from '../support/training-run.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

const cases: [string, JobSpecInput, number[]][] = [
  [
    'a CNN with batch norm',
    {
      dataset: { name: 'mnist', shape: 'image' },
      model: {
        layers: [
          { type: 'conv2d', filters: 4, kernelSize: [3, 5], padding: 'same' },
          { type: 'batchNormalization' },
          { type: 'maxPool2d' },
          { type: 'conv2d', name: 'c2', filters: 6, useBias: false },
          { type: 'flatten' },
          { type: 'dropout', rate: 0.1 },
          { type: 'layerNormalization' },
          { type: 'dense', units: 10 },
        ],
      },
    },
    [28, 28, 1],
  ],
  [
    'recurrent layers with their normalizations',
    {
      dataset: { name: 'copy', symbols: 4, length: 3, delay: 3, inputs: 'tokens' },
      model: {
        layers: [
          { type: 'embedding', inputDim: 6, outputDim: 5 },
          { type: 'lstm', units: 4, returnSequences: true, recurrentBatchNorm: { maxSteps: 5 } },
          { type: 'gru', units: 3, returnSequences: true, layerNorm: true },
          { type: 'lstm', units: 2, returnSequences: true, layerNorm: true },
          { type: 'simpleRnn', units: 3, returnSequences: true },
          { type: 'dense', units: 5 },
        ],
      },
    },
    [9],
  ],
  [
    'a residual graph with the convolution family and merges',
    {
      dataset: { name: 'mnist', shape: 'image' },
      model: {
        layers: [
          { type: 'zeroPadding2d', name: 'pad', padding: [1, 2] },
          { type: 'conv2d', name: 'stem', filters: 4, padding: 'same' },
          { type: 'depthwiseConv2d', name: 'dw', depthMultiplier: 2, padding: 'same' },
          { type: 'separableConv2d', name: 'sep', filters: 4, padding: 'same', useBias: false },
          { type: 'add', name: 'sum', inputs: ['stem', 'sep'] },
          { type: 'conv2d', name: 'side', filters: 3, inputs: ['stem'] },
          { type: 'upSampling2d', name: 'up', size: 1 },
          { type: 'zeroPadding2d', name: 'pad2', padding: 1 },
          { type: 'concatenate', name: 'cat', inputs: ['sum', 'pad2'] },
          { type: 'globalAvgPool', name: 'gap' },
          { type: 'dense', units: 10 },
        ],
      },
    },
    [28, 28, 1],
  ],
  [
    'attention, positions and transformer blocks',
    {
      dataset: { name: 'copy', symbols: 4, length: 3, delay: 3, inputs: 'tokens' },
      model: {
        layers: [
          { type: 'embedding', name: 'emb', inputDim: 6, outputDim: 8 },
          { type: 'positionalEmbedding', name: 'pos', mode: 'learned', maxLength: 12 },
          { type: 'transformerEncoder', name: 'enc', numHeads: 2, ffDim: 16 },
          { type: 'multiHeadAttention', name: 'mha', numHeads: 2, keyDim: 3, valueDim: 5, outputDim: 8, useBias: false, inputs: ['pos', 'enc'] },
          { type: 'transformerDecoder', name: 'dec', numHeads: 4, ffDim: 12, inputs: ['mha', 'enc'] },
          { type: 'dense', units: 5 },
        ],
      },
    },
    [9],
  ],
];

describe('weights computed from the spec', () => {
  it.each(cases)('match what TF.js builds: %s', (_name, input, inputShape) => {
    const spec = resolveSpec(input);
    const { model } = buildModel(spec, inputShape);
    const shapes = inferShapes(inputShape, spec.model.layers);
    if ('message' in shapes) throw new Error(shapes.message);
    const computed = modelWeights(spec.model.layers, shapes.inputShapes);
    // A graph is a functional model: its input is a layer of its own, with no weights, and TF.js
    // orders its layers by depth rather than as the spec lists them.
    const layers = computed.map((c) => model.getLayer(c.layer));
    expect(model.layers.filter((layer) => layer.getClassName() !== 'InputLayer')).toHaveLength(layers.length);
    const built = layers.map((layer) => Object.fromEntries(layer.weights.map((w) => [w.originalName, w.shape])));
    expect(computed.map((c) => c.weights)).toEqual(built);
    expect(layers.map((layer) => layer.outputShape)).toEqual(shapes.shapes.map((shape) => [null, ...shape]));
    model.dispose();
  });
});
