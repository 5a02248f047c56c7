import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

let harness: Harness;
beforeAll(async () => {
  // No worker: a refused spec never reaches one, and an accepted one stays queued.
  harness = await startHarness('graphvalidation');
});
afterAll(async () => harness?.close());

type Layer = Record<string, unknown> & { type: string };

/** A residual block on MNIST images, valid as it is; each case below breaks one thing. */
const residual = (): Layer[] => [
  { type: 'conv2d', name: 'stem', filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' },
  { type: 'conv2d', name: 'branch', filters: 8, kernelSize: 3, padding: 'same' },
  { type: 'batchNormalization', name: 'branch_bn' },
  { type: 'add', name: 'sum', inputs: ['branch_bn', 'stem'] },
  { type: 'activation', name: 'out', activation: 'relu' },
  { type: 'globalAvgPool', name: 'pool' },
  { type: 'dense', name: 'classifier', units: 10, activation: 'softmax' },
];

const spec = (layers: Layer[]) => ({ dataset: { name: 'mnist', shape: 'image', limit: 100 }, model: { layers }, epochs: 1, seed: 1 });

const post = (layers: Layer[]) => request(harness.app.server).post('/v1/jobs').send(spec(layers));

/** The layers with layer `index` changed by `patch` (undefined values remove a field). */
function withLayer(index: number, patch: Record<string, unknown>): Layer[] {
  const layers = residual();
  const layer: Layer = { ...layers[index]!, ...patch };
  for (const [key, value] of Object.entries(patch)) if (value === undefined) delete layer[key];
  layers[index] = layer;
  return layers;
}

interface FieldError {
  field: string;
  message: string;
}

async function refused(layers: Layer[]): Promise<FieldError[]> {
  const response = await post(layers);
  expect(response.status, JSON.stringify(response.body)).toBe(400);
  expect(response.headers['content-type']).toContain('application/problem+json');
  expect(response.body).toMatchObject({ status: 400, type: 'urn:trainyard:problem:invalid-request' });
  // Only field and message: every error here is in the body.
  return (response.body.errors as (FieldError & { in: string })[]).map(({ field, message, in: where }) => {
    expect(where).toBe('body');
    return { field, message };
  });
}

describe('POST /v1/jobs with a graph model', () => {
  it('accepts the residual block as it is', async () => {
    const response = await post(residual());
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    expect(response.body.spec.model.layers[3]).toMatchObject({ type: 'add', inputs: ['branch_bn', 'stem'] });
  });

  it('refuses a forward reference (a cycle) at the inputs of the layer that names it', async () => {
    // branch reads sum, which reads branch_bn, which reads branch: listed later, so a cycle.
    expect(await refused(withLayer(1, { inputs: ['sum'] }))).toEqual([
      { field: 'model.layers[1].inputs', message: "sum is layer 3, after this one: list a layer's inputs before it (so the model has no cycle)" },
    ]);
    expect(await refused(withLayer(3, { inputs: ['sum', 'stem'] }))).toEqual([
      { field: 'model.layers[3].inputs', message: 'sum is this layer: a layer cannot read its own output' },
    ]);
  });

  it('refuses an input no layer is named', async () => {
    expect(await refused(withLayer(3, { inputs: ['branch_bn', 'stme'] }))).toEqual([
      { field: 'model.layers[3].inputs', message: 'no layer is named stme (inputs name earlier layers, or "input")' },
    ]);
  });

  it('refuses a branch that nothing reads', async () => {
    const layers = residual();
    // A second branch off the stem that the add forgot.
    layers.splice(3, 0, { type: 'conv2d', name: 'forgotten', filters: 8, kernelSize: 1, inputs: ['stem'] });
    expect(await refused(layers)).toEqual([
      {
        field: 'model.layers[3]',
        message: "nothing reads forgotten's output: no later layer lists it in inputs, and only the last layer is the model's output",
      },
    ]);
  });

  it('refuses a merge of mismatched shapes, naming both', async () => {
    expect(await refused(withLayer(1, { filters: 16 }))).toEqual([
      { field: 'model.layers[3]', message: 'add needs inputs of one shape: input 0 is [14, 14, 16], input 1 is [14, 14, 8]' },
    ]);
  });

  it('refuses an add with one input', async () => {
    expect(await refused(withLayer(3, { inputs: ['branch_bn'] }))).toEqual([{ field: 'model.layers[3].inputs', message: 'add takes 2 to 16 inputs, not 1' }]);
    // Without inputs an add reads the layer before it: still one.
    expect(await refused(withLayer(3, { inputs: undefined }))).toEqual(
      expect.arrayContaining([{ field: 'model.layers[3].inputs', message: 'add takes 2 to 16 inputs, not 1: name them in inputs' }]),
    );
  });

  it('refuses a layer named "input", which inputs use for the model\'s input', async () => {
    const errors = await refused(withLayer(0, { name: 'input' }));
    expect(errors).toEqual([{ field: 'model.layers[0].name', message: '"input" names the model\'s input in inputs: choose another name' }]);
  });
});
