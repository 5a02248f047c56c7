import { describe, expect, it } from 'vitest';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';

/** "path: message" of every problem the spec has. */
function problems(spec: JobSpecInput): string[] {
  const result = jobSpecSchema.safeParse(spec);
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

const adding = { name: 'adding', rows: 100, length: 8 } as const;
const copyTokens = { name: 'copy', rows: 100, symbols: 4, length: 3, delay: 3, inputs: 'tokens' } as const;
const head = { type: 'dense', units: 1 } as const;

describe('model checks at submission', () => {
  it('accept valid recurrent models and fill in the loss from the task', () => {
    expect(problems({ dataset: adding, model: { layers: [{ type: 'lstm', units: 4 }, head] } })).toEqual([]);
    const spec = resolveJobSpec(jobSpecSchema.parse({ dataset: adding, model: { layers: [{ type: 'gru', units: 4 }, head] } }));
    expect(spec.loss).toBe('meanSquaredError');
    const copy: JobSpecInput = { dataset: copyTokens, model: { layers: [{ type: 'embedding', inputDim: 6, outputDim: 4 }, { type: 'simpleRnn', units: 4, returnSequences: true }, { type: 'dense', units: 5 }] } };
    expect(problems(copy)).toEqual([]);
  });

  it('name the layer whose input shape is wrong', () => {
    expect(problems({ dataset: { name: 'iris' }, model: { layers: [{ type: 'lstm', units: 4 }, { type: 'dense', units: 3 }] } })).toEqual([
      'model.layers.0: lstm needs a sequence input of shape [steps, features], not [4]: add a reshape layer before it',
    ]);
    expect(problems({ dataset: adding, model: { layers: [{ type: 'flatten' }, { type: 'lstm', units: 4 }, head] } })[0]).toMatch(/^model\.layers\.1: lstm needs a sequence input/);
  });

  it('reject dropout modes that do not apply', () => {
    expect(problems({ dataset: adding, model: { layers: [{ type: 'simpleRnn', units: 4, dropout: 0.2, dropoutMode: 'cellUpdate' }, head] } })).toEqual([
      'model.layers.0.dropoutMode: cellUpdate drops the LSTM/GRU candidate update, which a simpleRnn does not have: use standard or variational',
    ]);
    expect(problems({ dataset: adding, model: { layers: [{ type: 'lstm', units: 4, recurrentDropout: 0.2 }, head] } })).toEqual([
      'model.layers.0.recurrentDropout: only the variational mode drops the recurrent state; standard leaves it untouched by definition',
    ]);
  });

  it('check embeddings against token inputs', () => {
    const layers = (first: object) => ({ layers: [first, { type: 'simpleRnn', units: 4, returnSequences: true }, { type: 'dense', units: 5 }] });
    expect(problems({ dataset: copyTokens, model: layers({ type: 'embedding', inputDim: 3, outputDim: 4 }) as never })).toEqual([
      "model.layers.0.inputDim: must cover the data set's 6 token ids (0 … 5)",
    ]);
    expect(problems({ dataset: adding, model: { layers: [{ type: 'embedding', inputDim: 3, outputDim: 4 }, head] } })[0]).toMatch(/^model\.layers\.0: an embedding takes token ids/);
    expect(problems({ dataset: copyTokens, model: { layers: [{ type: 'dense', units: 5 }] } })).toContain('model.layers.0: the inputs are token ids (0 … 5): start with an embedding layer');
  });

  it('ask for an output per step on a sequence-labelling set', () => {
    const copy = { name: 'copy', rows: 100, symbols: 4, length: 3, delay: 3 } as const;
    expect(problems({ dataset: copy, model: { layers: [{ type: 'lstm', units: 4 }, { type: 'dense', units: 5 }] } })).toEqual([
      'model.layers.1: the model outputs shape [5]; it must be [9, 5], one per class of the data set at each step (returnSequences on the last recurrent layer)',
    ]);
  });

  it('match the loss to the task and to the options that need a softmax', () => {
    expect(problems({ dataset: adding, loss: 'categoricalCrossentropy', model: { layers: [{ type: 'lstm', units: 4 }, head] } })).toEqual([
      'loss: the data set is a regression (real-valued targets): use meanSquaredError, not categoricalCrossentropy',
    ]);
    expect(problems({ dataset: { name: 'iris' }, loss: 'meanSquaredError', regularization: { labelSmoothing: 0.1 }, model: { layers: [{ type: 'dense', units: 3 }] } })).toEqual([
      'regularization.labelSmoothing: acts on a softmax distribution: it needs categoricalCrossentropy or sparseCategoricalCrossentropy, not meanSquaredError',
    ]);
    expect(problems({ dataset: adding, earlyStopping: { monitor: 'val_accuracy' }, model: { layers: [{ type: 'lstm', units: 4 }, head] } })).toEqual([
      'earlyStopping.monitor: a regression reports no accuracy: monitor val_mae or a loss',
    ]);
  });

  it('allow one sigmoid unit for two classes with binary cross-entropy, and say how many units otherwise', () => {
    const xor = { name: 'xor', rows: 100 } as const;
    expect(problems({ dataset: xor, loss: 'binaryCrossentropy', model: { layers: [{ type: 'dense', units: 1, activation: 'sigmoid' }] } })).toEqual([]);
    expect(problems({ dataset: { name: 'iris' }, loss: 'binaryCrossentropy', model: { layers: [{ type: 'dense', units: 1 }] } })).toEqual([
      'model.layers.0.units: the output layer needs 3 units, one per class of the data set, not 1',
    ]);
    expect(problems({ dataset: xor, model: { layers: [{ type: 'dense', units: 3 }] } })).toEqual([
      'model.layers.0.units: the output layer needs 2 units, one per class of the data set, not 3',
    ]);
  });
});
