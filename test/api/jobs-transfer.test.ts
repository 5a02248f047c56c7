import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { weightsByName } from '../support/training-run.js';
import { waitFor } from '../support/wait.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('apitransfer', { TRAINYARD_BACKEND: 'wasm' });
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);
const hidden = { type: 'dense', name: 'hidden', units: 16, activation: 'relu' } as const;
const out = { type: 'dense', name: 'out', units: 3, activation: 'softmax' } as const;
const layers = [hidden, out];
const finished = (id: string) =>
  waitFor(`job ${id}`, async () => {
    const job = (await api().get(`/v1/jobs/${id}`)).body;
    return ['succeeded', 'failed'].includes(job.status) && job;
  });

describe('starting a job from another job\'s weights', () => {
  it('refuses before queueing: an unknown source is 404, a source without checkpoints 409', async () => {
    const unknown = await api()
      .post('/v1/jobs')
      .send(tinyIrisSpec({ model: { layers }, init: { from: { job: '0193a1b2-0000-7000-8000-00000000abcd' } } }));
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toContain('source job (init.from.job) 0193a1b2-0000-7000-8000-00000000abcd does not exist');
    // No worker runs yet: the source stays queued, without checkpoints.
    const source = await api().post('/v1/jobs').send(tinyIrisSpec({ model: { layers } }));
    const early = await api().post('/v1/jobs').send(tinyIrisSpec({ model: { layers }, init: { from: { job: source.body.id } } }));
    expect(early.status).toBe(409);
    expect(early.body.detail).toMatch(/has no checkpoints yet \(it is queued\)/);
    const listed = (await api().get('/v1/jobs')).body.data;
    expect(listed).toHaveLength(1);
  });

  it('loads, freezes and reports; a frozen layer is exactly the source\'s; shape mismatches are 400 naming the layer', async () => {
    await harness.startWorker();
    const source = await api().post('/v1/jobs').send(tinyIrisSpec({ model: { layers }, epochs: 4 }));
    expect((await finished(source.body.id)).status).toBe('succeeded');

    const transfer = await api()
      .post('/v1/jobs')
      .send(tinyIrisSpec({ model: { layers: [hidden, { ...out, name: 'out2' }] }, epochs: 3, init: { from: { job: source.body.id, checkpoint: 'last' }, freeze: { layers: ['hidden'] } } }));
    expect(transfer.status, JSON.stringify(transfer.body)).toBe(201);
    expect(transfer.body.spec.init).toMatchObject({ mode: 'finetune', loaded: ['hidden'], frozen: ['hidden'], from: { job: source.body.id, checkpoint: expect.any(String) } });
    expect((await finished(transfer.body.id)).status).toBe('succeeded');

    const events = (await api().get(`/v1/jobs/${transfer.body.id}/events`)).body.data;
    expect(events.find((e: { type: string }) => e.type === 'transfer').data.reason).toMatch(/loaded hidden from job .*; frozen hidden; trained from scratch out2/);
    const weightsOf = async (jobId: string) => {
      const checkpoints = (await api().get(`/v1/jobs/${jobId}/checkpoints`)).body.data;
      const last = checkpoints.at(-1);
      const model = (await api().get(last.links.modelJson)).body;
      const bytes = (await api().get(last.links.weights).buffer(true).parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      })).body as Buffer;
      // Copied: a Buffer's bytes may not start at a float-aligned offset.
      return weightsByName({ weightSpecs: model.weightsManifest[0].weights, weightData: new Uint8Array(bytes).buffer });
    };
    const before = await weightsOf(source.body.id);
    const after = await weightsOf(transfer.body.id);
    expect(after['hidden/kernel']).toEqual(before['hidden/kernel']);
    expect(after['hidden/bias']).toEqual(before['hidden/bias']);

    const wider = await api()
      .post('/v1/jobs')
      .send(tinyIrisSpec({ model: { layers: [{ ...hidden, units: 32 }, out] }, init: { from: { job: source.body.id } } }));
    expect(wider.status).toBe(400);
    expect(wider.body.errors).toEqual([
      expect.objectContaining({ field: 'model.layers[0]', message: expect.stringContaining('layer hidden does not match the source checkpoint') }),
      expect.objectContaining({ field: 'model.layers[1]', message: expect.stringContaining('layer out does not match') }),
    ]);
    const missingLayer = await api().post('/v1/jobs').send(tinyIrisSpec({ model: { layers }, init: { from: { job: source.body.id }, freeze: { layers: ['nope'] } } }));
    expect(missingLayer.status).toBe(400);
    expect(missingLayer.body.errors).toEqual([expect.objectContaining({ field: 'init.freeze.layers[0]', message: 'no layer named nope' })]);
  });

  it('runs a progressive net whose column is a finished job; a column that is not a dense stack is a 400', async () => {
    const column = await api().post('/v1/jobs').send(tinyIrisSpec({ model: { layers }, epochs: 3 }));
    expect((await finished(column.body.id)).status).toBe('succeeded');
    const progressive = await api()
      .post('/v1/jobs')
      .send(tinyIrisSpec({ epochs: 3, model: { layers: [{ ...hidden, name: 'n1' }, { ...out, name: 'head' }], progressive: { columns: [{ job: column.body.id }] } } }));
    expect(progressive.status, JSON.stringify(progressive.body)).toBe(201);
    expect(progressive.body.spec.model.progressive.columns[0]).toMatchObject({ job: column.body.id, checkpoint: expect.stringMatching(/^[0-9a-f-]{36}$/), layers: [hidden, out] });
    expect((await finished(progressive.body.id)).status).toBe('succeeded');
    const checkpoints = (await api().get(`/v1/jobs/${progressive.body.id}/checkpoints`)).body.data;
    const model = (await api().get(checkpoints.at(-1).links.modelJson)).body;
    const names = model.weightsManifest[0].weights.map((w: { name: string }) => w.name);
    expect(names).toEqual(expect.arrayContaining(['c0_hidden/kernel', 'head_lateral_c0/kernel', 'n1/kernel']));

    const unknown = await api()
      .post('/v1/jobs')
      .send(tinyIrisSpec({ model: { layers, progressive: { columns: [{ job: '0193a1b2-0000-7000-8000-00000000abcd' }] } } }));
    expect(unknown.status).toBe(404);
    const nested = await api()
      .post('/v1/jobs')
      .send(tinyIrisSpec({ model: { layers, progressive: { columns: [{ job: progressive.body.id }] } } }));
    expect(nested.status).toBe(400);
    expect(nested.body.errors).toEqual([expect.objectContaining({ field: 'model.progressive.columns[0].job', message: expect.stringContaining('is itself a progressive net') })]);
  });
});
