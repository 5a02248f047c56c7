import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('apidist', { TRAINYARD_BACKEND: 'wasm', TRAINING_THREADS: '2' });
  await harness.startWorker();
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);

describe('distributed jobs through the service', () => {
  it('trains on two threads ("auto" under TRAINING_THREADS=2) and records per-thread numbers and the speed-up', async () => {
    const created = await api().post('/v1/jobs').send(tinyIrisSpec({ epochs: 3, batchSize: 8, distributed: { strategy: 'sync' } }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const done = await waitFor('the distributed job', async () => {
      const job = (await api().get(`/v1/jobs/${created.body.id}`)).body;
      return ['succeeded', 'failed'].includes(job.status) && job;
    });
    expect(done.status, done.failureReason).toBe('succeeded');
    const events = (await api().get(`/v1/jobs/${created.body.id}/events`)).body.data;
    const distributed = events.filter((e: { type: string }) => e.type === 'distributed');
    expect(distributed).toHaveLength(3);
    expect(distributed[0].data).toMatchObject({ strategy: 'sync', workers: 2, speedup: expect.any(Number) });
    expect(distributed[0].data.threads).toHaveLength(2);
    expect(distributed[0].data.threads[0].steps).toBeGreaterThan(0);
  });

  it('refuses what a strategy cannot do, naming the field', async () => {
    const hogwildAdam = await api().post('/v1/jobs').send(tinyIrisSpec({ optimizer: 'adam', distributed: { strategy: 'hogwild', workers: 2 } }));
    expect(hogwildAdam.status).toBe(400);
    expect(hogwildAdam.body.errors).toEqual([expect.objectContaining({ field: 'optimizer', message: expect.stringContaining('use sgd') })]);
    const batchNorm = await api()
      .post('/v1/jobs')
      .send(tinyIrisSpec({ model: { layers: [{ type: 'dense', units: 8 }, { type: 'batchNormalization' }, { type: 'dense', units: 3 }] }, distributed: { strategy: 'sync', workers: 2 } }));
    expect(batchNorm.body.errors).toEqual([expect.objectContaining({ field: 'model.layers[1]', message: expect.stringContaining('running statistics per thread') })]);
    const backups = await api().post('/v1/jobs').send(tinyIrisSpec({ distributed: { strategy: 'async', workers: 2, backupWorkers: 1 } }));
    expect(backups.body.errors).toEqual([expect.objectContaining({ field: 'distributed.backupWorkers' })]);
  });
});
