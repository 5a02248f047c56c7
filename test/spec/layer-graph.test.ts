import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/engine/model-builder.js';
import { describeDataset } from '../../src/spec/dataset-spec.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

const issues = (input: unknown) => {
  const result = jobSpecSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
};

const image = (layers: object[]) => ({ dataset: { name: 'mnist', shape: 'image', limit: 64 }, model: { layers } }) as unknown as JobSpecInput;
const sequence = (layers: object[]) => ({ dataset: { name: 'copy', symbols: 4, length: 3, delay: 2, inputs: 'tokens' }, model: { layers } }) as unknown as JobSpecInput;
const head = { type: 'dense', name: 'out', units: 10 };

describe('a graph model is checked at submission, naming the layer', () => {
  it.each([
    ['an input listed after the layer (a cycle)', [{ type: 'conv2d', name: 'a', filters: 4, inputs: ['b'] }, { type: 'conv2d', name: 'b', filters: 4, inputs: ['a'] }, { type: 'flatten' }, head], 'model.layers.0.inputs: b is layer 1, after this one'],
    ['a layer reading itself', [{ type: 'conv2d', name: 'a', filters: 4, inputs: ['a'] }, { type: 'flatten' }, head], 'model.layers.0.inputs: a is this layer'],
    ['an unknown input', [{ type: 'conv2d', name: 'a', filters: 4 }, { type: 'flatten', inputs: ['nope'] }, head], 'model.layers.1.inputs: no layer is named nope'],
    ['a merge with one input', [{ type: 'conv2d', name: 'a', filters: 4 }, { type: 'add', name: 's' }, { type: 'flatten' }, head], 'model.layers.1.inputs: add takes 2 to 16 inputs, not 1: name them in inputs'],
    ['two inputs to a one-input layer', [{ type: 'conv2d', name: 'a', filters: 4 }, { type: 'flatten', inputs: ['a', 'input'] }, head], 'model.layers.1.inputs: flatten takes 1 input, not 2'],
    ['a merge of mismatched shapes', [{ type: 'conv2d', name: 'a', filters: 4 }, { type: 'conv2d', name: 'b', filters: 4, padding: 'same', inputs: ['input'] }, { type: 'add', inputs: ['a', 'b'] }, { type: 'flatten' }, head], 'model.layers.2: add needs inputs of one shape: input 0 is [26, 26, 4], input 1 is [28, 28, 4]'],
    ['a branch nothing reads', [{ type: 'conv2d', name: 'a', filters: 4 }, { type: 'conv2d', name: 'side', filters: 4 }, { type: 'flatten', inputs: ['a'] }, head], "model.layers.1: nothing reads side's output"],
    ['a layer named input', [{ type: 'flatten', name: 'input' }, head], 'model.layers.0.name: "input" names the model\'s input'],
    ['an input listed twice', [{ type: 'conv2d', name: 'a', filters: 4 }, { type: 'add', inputs: ['a', 'a'] }, { type: 'flatten' }, head], 'model.layers.1.inputs: a is listed twice'],
  ])('%s', (_what, layers, problem) => {
    expect(issues(image(layers))).toEqual([expect.stringContaining(problem)]);
  });

  it('an attention layer checks its sequences, and a decoder block its two inputs', () => {
    const base = [{ type: 'embedding', name: 'emb', inputDim: 6, outputDim: 8 }];
    const out = { type: 'dense', units: 5 };
    expect(issues(sequence([...base, { type: 'transformerEncoder', numHeads: 3, ffDim: 8 }, out]))).toEqual([expect.stringContaining("model.layers.1: 3 heads must divide its input's 8 features")]);
    expect(issues(sequence([...base, { type: 'transformerDecoder', numHeads: 2, ffDim: 8 }, out]))).toEqual([expect.stringContaining('model.layers.1.inputs: transformerDecoder takes 2 inputs, not 1')]);
    expect(issues(sequence([...base, { type: 'flatten', name: 'f' }, { type: 'multiHeadAttention', numHeads: 2, keyDim: 4, inputs: ['f'] }, out]))).toEqual([
      expect.stringContaining('model.layers.2: multiHeadAttention needs sequences [steps, features]; input 0 is [64]'),
    ]);
    expect(issues(sequence([{ type: 'dense', name: 'd', units: 4, inputs: ['input'] }, ...base.map((layer) => ({ ...layer, inputs: ['input'] })), { type: 'add', inputs: ['d', 'emb'] }, out]))).toContainEqual(
      expect.stringContaining('model.layers.0: the inputs are token ids (0 … 5): only an embedding layer (or a timeSlice before one) can read the model\'s input'),
    );
  });
});

/** Layer types that keep [h, w, c] (so any rewiring among them can still be valid) plus merges. */
const nodeKinds = [
  { type: 'conv2d', filters: 4, padding: 'same' },
  { type: 'depthwiseConv2d', padding: 'same' },
  { type: 'separableConv2d', filters: 4, padding: 'same' },
  { type: 'batchNormalization' },
  { type: 'activation', activation: 'relu' },
  { type: 'maxPool2d', poolSize: 2 },
  { type: 'zeroPadding2d', padding: 1 },
  { type: 'add' },
  { type: 'concatenate' },
  { type: 'average' },
];

describe('seeded random graphs', () => {
  it('are either refused with problems naming a layer, or build into exactly the model the spec describes', () => {
    let built = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ kind: fc.nat(nodeKinds.length - 1), inputs: fc.option(fc.array(fc.nat(24), { minLength: 1, maxLength: 3 }), { nil: undefined }) }),
          { minLength: 1, maxLength: 8 },
        ),
        (nodes) => {
          const name = (index: number) => (index === -1 ? 'input' : `n${index}`);
          // Mostly an earlier layer or the input; now and then a later one (a cycle) or one that does not exist.
          const ref = (index: number, pick: number) => (pick === 24 ? 'ghost' : pick === 23 ? name(index + 1) : name(index - 1 - (pick % (index + 1))));
          const layers = [
            ...nodes.map(({ kind, inputs }, index) => ({ ...nodeKinds[kind], name: name(index), ...(inputs ? { inputs: [...new Set(inputs.map((pick) => ref(index, pick)))] } : {}) })),
            { type: 'globalAvgPool', name: 'pool' },
            head,
          ];
          const input = image(layers);
          const problems = issues(input);
          for (const problem of problems) expect(problem).toMatch(/^model\.layers\.\d+(\.\w+)?: /);
          if (problems.length > 0) return;
          const spec = resolveJobSpec(jobSpecSchema.parse(input));
          const model = buildModel(spec, describeDataset(spec.dataset)!.inputShape!).model;
          expect(model.outputs[0]!.shape).toEqual([null, 10]);
          expect(tf.tidy(() => (model.predict(tf.zeros([2, 28, 28, 1])) as tf.Tensor).shape)).toEqual([2, 10]);
          model.dispose();
          built += 1;
        },
      ),
      { seed: 23, numRuns: 150 },
    );
    // The generator must reach valid graphs too, or the property says little.
    expect(built).toBeGreaterThan(15);
  });
});
