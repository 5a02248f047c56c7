import { readFile } from 'node:fs/promises';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobSpecInput } from '../../src/spec/job-spec.js';
import { shorten } from '../support/examples.js';
import { startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('apireg', { TRAINYARD_BACKEND: 'wasm' });
  await harness.startWorker();
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);
const example = async (name: string) => JSON.parse(await readFile(new URL(`../../examples/${name}.json`, import.meta.url), 'utf8')) as JobSpecInput;

describe('regularization, normalization and recurrent models through the API', () => {
  // The examples docs/job-spec.md names for section 2 of the catalogue, each at a tiny size, end to end.
  it.each(['mlp-batchnorm-dropout', 'cnn-batchnorm', 'lstm-variational-dropout-recurrent-bn', 'mlp-auxiliary-heads-label-smoothing'])(
    'examples/%s.json runs to completion',
    async (name) => {
      const spec = shorten(await example(name), 2);
      const created = await api().post('/v1/jobs').send(spec);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const done = await waitFor(`job ${name}`, async () => {
        const job = (await api().get(`/v1/jobs/${created.body.id}`)).body;
        return ['succeeded', 'failed'].includes(job.status) && job;
      });
      expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
      const metrics = (await api().get(`/v1/jobs/${created.body.id}/metrics?scope=epoch`)).body.data;
      const last = metrics.at(-1).values;
      expect(Number.isFinite(last.loss)).toBe(true);
      if (name.startsWith('lstm')) expect(last.val_mae).toBeGreaterThan(0);
      if (name.includes('auxiliary')) expect(last).toMatchObject({ aux_hidden1_loss: expect.any(Number), aux_hidden2_loss: expect.any(Number), output_entropy: expect.any(Number) });
      if (name.startsWith('cnn')) expect(last.test_accuracy).toBeGreaterThan(0);
    },
  );

  it('rejects a bad recurrent spec with a 400 naming the field', async () => {
    const response = await api()
      .post('/v1/jobs')
      .send({ dataset: { name: 'adding' }, model: { layers: [{ type: 'simpleRnn', units: 8, dropout: 0.2, dropoutMode: 'cellUpdate' }, { type: 'dense', units: 1 }] } });
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toMatch(/problem\+json/);
    expect(response.body.errors).toEqual([
      { field: 'model.layers[0].dropoutMode', in: 'body', message: 'cellUpdate drops the LSTM/GRU candidate update, which a simpleRnn does not have: use standard or variational' },
    ]);
  });

  it('echoes the resolved loss', async () => {
    const response = await api().post('/v1/jobs').send({ dataset: { name: 'sine', rows: 100 }, model: { layers: [{ type: 'gru', units: 4 }, { type: 'dense', units: 1 }] }, epochs: 1 });
    expect(response.status).toBe(201);
    expect(response.body.spec.loss).toBe('meanSquaredError');
  });
});
