import os from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobSpecInput } from '../../src/spec/job-spec.js';
import { oversizedSpecs } from '../support/oversized-specs.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';

const MIB = 2 ** 20;
let harness: Harness;
let tight: Harness;
beforeAll(async () => {
  // This machine's defaults (WORKER_MEMORY_LIMIT_MB and TRAINING_THREADS are not set for the tests).
  harness = await startHarness('limits');
  tight = await startHarness('limits_tight', { WORKER_MEMORY_LIMIT_MB: '600', TRAINING_THREADS: '2' });
});
afterAll(async () => {
  await harness?.close();
  await tight?.close();
});

const examples = readdirSync('examples')
  .filter((file) => file.endsWith('.json'))
  .sort()
  .map((file) => [file, JSON.parse(readFileSync(`examples/${file}`, 'utf8')) as JobSpecInput] as const);

// 64 threads are refused where a training process may not start 64: any machine with fewer cores.
const cases = oversizedSpecs.filter(({ field }) => field !== 'distributed.workers' || os.availableParallelism() < 64);

describe('POST /v1/jobs refuses what no training process can hold', () => {
  it.each(cases)('$name: 422 naming $field, with the estimate and the limit; nothing is queued', async ({ spec, field }) => {
    const response = await request(harness.app.server).post('/v1/jobs').send(spec);
    expect(response.status, response.text).toBe(422);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.body.errors).toEqual([{ field, message: expect.any(String) }]);
    expect(response.body.detail).toContain(field);
    if (field === 'distributed.workers') {
      expect(response.body).toMatchObject({ threads: 64, threadLimit: harness.config.TRAINING_THREADS ?? os.availableParallelism() });
    } else {
      expect(response.body.limitBytes).toBe(harness.config.WORKER_MEMORY_LIMIT_MB * MIB);
      expect(response.body.estimateBytes).toBeGreaterThan(response.body.limitBytes);
      expect(response.body.largest[0].field).toBe(field);
      expect(Object.keys(response.body.breakdown)).toEqual(expect.arrayContaining(['weights', 'gradients', 'optimizerState', 'activations', 'dataset', 'labels', 'runtime']));
    }
    const jobs = await request(harness.app.server).get('/v1/jobs').expect(200);
    expect(jobs.body.data).toEqual([]);
  });

  it.each(examples)('examples/%s is accepted under the default limit', async (_file, example) => {
    const response = await request(harness.app.server).post('/v1/jobs').send(example);
    expect(response.status, response.text).toBe(201);
  });

  it('WORKER_MEMORY_LIMIT_MB and TRAINING_THREADS are the limits', async () => {
    const cnn = examples.find(([file]) => file === 'cnn-batchnorm.json')![1];
    const refused = await request(tight.app.server).post('/v1/jobs').send(cnn).expect(422);
    expect(refused.body).toMatchObject({ limitBytes: 600 * MIB, errors: [{ field: 'model.layers[0].filters' }] });
    expect(refused.body.errors[0].message).toMatch(/of the estimated [\d.]+ MiB; the limit is 600 MiB\. Try fewer filters$/);
    const threads = await request(tight.app.server)
      .post('/v1/jobs')
      .send(tinyIrisSpec({ distributed: { strategy: 'sync', workers: 2, backupWorkers: 1 } }))
      .expect(422);
    expect(threads.body).toMatchObject({ threads: 3, threadLimit: 2, errors: [{ field: 'distributed.backupWorkers' }] });
    await request(tight.app.server).post('/v1/jobs').send(tinyIrisSpec({ distributed: { strategy: 'sync', workers: 2 } })).expect(201);
  });

  it('a spec that is invalid as well is a 400 for what is invalid first', async () => {
    const { spec } = oversizedSpecs[0]!;
    const response = await request(harness.app.server).post('/v1/jobs').send({ ...spec, name: '' });
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string }) => e.field)).toEqual(['name']);
  });
});
