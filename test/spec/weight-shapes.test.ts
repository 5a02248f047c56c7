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
];

describe('weights computed from the spec', () => {
  it.each(cases)('match what TF.js builds: %s', (_name, input, inputShape) => {
    const spec = resolveSpec(input);
    const { model } = buildModel(spec, inputShape);
    const shapes = inferShapes(inputShape, spec.model.layers);
    if ('message' in shapes) throw new Error(shapes.message);
    const computed = modelWeights(spec.model.layers, [inputShape, ...shapes.shapes]);
    const built = model.layers.map((layer) => Object.fromEntries(layer.weights.map((w) => [w.originalName, w.shape])));
    expect(computed.map((c) => c.weights)).toEqual(built);
    expect(computed.map((c) => c.layer)).toEqual(model.layers.map((layer) => layer.name));
    model.dispose();
  });
});
