import { readFileSync } from 'node:fs';
import createClient, { type Middleware } from 'openapi-fetch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openapiPath } from '../../src/api/openapi-document.js';
import type { paths } from '../../src/client/api-types.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

// A client made by outside tools from the committed document alone (openapi-typescript's types,
// openapi-fetch's calls): this file type-checks against them and calls every operation.
const ADMIN_TOKEN = 'generated-client-admin-token';
const called = new Set<string>();
const recorder: Middleware = {
  onRequest({ request, schemaPath }) {
    called.add(`${request.method} ${schemaPath}`);
  },
};

let harness: Harness;
let client: ReturnType<typeof createClient<paths>>;
let admin: ReturnType<typeof createClient<paths>>;
beforeAll(async () => {
  harness = await startHarness('generated', { TRAINYARD_BACKEND: 'wasm', AUTH_MODE: 'required', ADMIN_TOKEN });
  await harness.startWorker();
  harness.startScheduler();
  const { key } = await harness.apiKey('generated');
  client = createClient<paths>({ baseUrl: harness.baseUrl, headers: { authorization: `Bearer ${key}` } });
  admin = createClient<paths>({ baseUrl: harness.baseUrl, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  client.use(recorder);
  admin.use(recorder);
});
afterAll(async () => harness?.close());

describe('a client generated from openapi/openapi.json', () => {
  it('calls every operation of the document and gets what it documents', async () => {
    expect((await client.GET('/healthz')).data?.status).toBe('ok');
    expect((await client.GET('/readyz')).data?.status).toBe('ready');
    expect(await (await client.GET('/metrics', { parseAs: 'text' })).data).toContain('trainyard_jobs');
    expect((await client.GET('/docs', { parseAs: 'text' })).response.status).toBe(200);
    expect((await client.GET('/docs/json')).data).toHaveProperty('openapi', '3.1.0');
    expect((await client.GET('/v1/examples')).data?.data.length).toBeGreaterThan(0);
    expect((await client.GET('/v1/workers')).data?.data.length).toBe(1);

    const submitted = await client.POST('/v1/jobs', { body: tinyIrisSpec({ epochs: 2 }), params: { header: { 'idempotency-key': 'generated-1' } } });
    expect(submitted.response.status).toBe(201);
    const id = submitted.data!.id;
    expect(submitted.response.headers.get('location')).toBe(`/v1/jobs/${id}`);
    await waitFor('the job to succeed', async () => (await client.GET('/v1/jobs/{id}', { params: { path: { id } } })).data?.status === 'succeeded', 60_000, 100);
    expect((await client.GET('/v1/jobs', { params: { query: { limit: 5 } } })).data?.data[0]?.id).toBe(id);
    expect((await client.GET('/v1/runs', { params: { query: { limit: 5 } } })).data?.data[0]?.summary.lastEpoch).toBe(2);
    expect((await client.GET('/v1/runs/{id}', { params: { path: { id } } })).data?.summary.lastEpoch).toBe(2);
    expect((await client.GET('/v1/jobs/{id}/events', { params: { path: { id }, query: { after: 0 } } })).data?.data[0]?.seq).toBe(1);
    expect((await client.GET('/v1/jobs/{id}/metrics', { params: { path: { id }, query: { scope: 'epoch' } } })).data?.data).toHaveLength(2);
    const checkpoints = (await client.GET('/v1/jobs/{id}/checkpoints', { params: { path: { id } } })).data!.data;
    const checkpointId = checkpoints[0]!.id;
    const file = await client.GET('/v1/jobs/{id}/checkpoints/{checkpointId}/{file}', { params: { path: { id, checkpointId, file: 'weights.bin' } }, parseAs: 'arrayBuffer' });
    expect(file.data!.byteLength).toBeGreaterThan(0);
    expect((await client.GET('/v1/jobs/{id}/model/{file}', { params: { path: { id, file: 'model.json' } } })).data).toHaveProperty('modelTopology');
    const predicted = await client.POST('/v1/jobs/{id}/predict', { params: { path: { id } }, body: { inputs: [[5.1, 3.5, 1.4, 0.2]] } });
    expect(predicted.data?.predictions[0]?.probabilities).toHaveLength(3);
    // A plain GET of a websocket endpoint is the documented 426.
    expect((await client.GET('/v1/jobs/{id}/stream', { params: { path: { id } } })).response.status).toBe(426);
    expect((await client.GET('/v1/stream')).response.status).toBe(426);

    const waiting = (await client.POST('/v1/jobs', { body: tinyIrisSpec({ epochs: 500 }) })).data!.id;
    expect((await client.POST('/v1/jobs/{id}/pause', { params: { path: { id: waiting } } })).data?.status).toMatch(/^paus/);
    await waitFor('the pause', async () => (await client.GET('/v1/jobs/{id}', { params: { path: { id: waiting } } })).data?.status === 'paused', 60_000, 100);
    expect((await client.POST('/v1/jobs/{id}/resume', { params: { path: { id: waiting } } })).data?.status).toBe('queued');
    expect((await client.POST('/v1/jobs/{id}/cancel', { params: { path: { id: waiting } } })).response.status).toBeLessThan(300);
    const refused = await client.POST('/v1/jobs/{id}/resume', { params: { path: { id } } });
    expect(refused.error?.currentStatus).toBe('succeeded');
    // Only a failed job can be retried (test/worker/worker-lifecycle.test.ts retries one).
    expect((await client.POST('/v1/jobs/{id}/retry', { params: { path: { id } } })).error?.currentStatus).toBe('succeeded');

    const createdStudy = await client.POST('/v1/studies', {
      body: { base: tinyIrisSpec({ epochs: 1, logEveryBatches: 0 }), space: { learningRate: { type: 'choice', values: [0.01, 0.05] } }, objective: { metric: 'val_accuracy' }, algorithm: { type: 'grid' } },
    });
    expect(createdStudy.response.status).toBe(201);
    const studyId = createdStudy.data!.id;
    const study = { params: { path: { id: studyId } } };
    expect(createdStudy.response.headers.get('location')).toBe(`/v1/studies/${studyId}`);
    expect((await client.POST('/v1/studies/{id}/pause', study)).data?.status).toBe('paused');
    expect((await client.POST('/v1/studies/{id}/resume', study)).data?.status).toBe('running');
    await waitFor('the study to succeed', async () => (await client.GET('/v1/studies/{id}', study)).data?.status === 'succeeded', 60_000, 100);
    expect((await client.GET('/v1/studies', { params: { query: { limit: 5 } } })).data?.data.map((each) => each.id)).toEqual([studyId]);
    expect((await client.GET('/v1/studies/{id}/events', { params: { path: { id: studyId }, query: { after: 0 } } })).data?.data[0]).toMatchObject({ seq: 1, type: 'status', data: { status: 'running' } });
    expect((await client.GET('/v1/studies/{id}/stream', study)).response.status).toBe(426);
    const best = await client.POST('/v1/studies/{id}/train-best', { ...study, body: { epochs: 1 } });
    expect(best.response.status).toBe(201);
    expect(best.data?.spec.epochs).toBe(1);
    // An ended study cannot be cancelled: the documented 409.
    expect((await client.POST('/v1/studies/{id}/cancel', study)).response.status).toBe(409);

    const upload = await client.POST('/v1/datasets', {
      params: { query: { name: 'two columns' } },
      body: 'x,label\n1,a\n2,b\n3,a\n4,b\n',
      bodySerializer: (body) => body as string,
      headers: { 'content-type': 'text/csv' },
    });
    expect(upload.response.status).toBe(201);
    const datasetId = upload.data!.id;
    expect((await client.GET('/v1/datasets')).data?.uploaded.map((dataset) => dataset.id)).toEqual([datasetId]);
    expect((await client.GET('/v1/datasets/{id}', { params: { path: { id: datasetId } } })).data?.classNames).toEqual(['a', 'b']);
    // A table has no sample grid: the documented 404.
    expect((await client.GET('/v1/datasets/{id}/samples.png', { params: { path: { id: datasetId } } })).response.status).toBe(404);
    expect((await client.DELETE('/v1/datasets/{id}', { params: { path: { id: datasetId } } })).response.status).toBe(204);

    expect((await admin.GET('/v1/admin/projects')).data?.data.map((project) => project.name)).toContain('generated');
    expect((await admin.PATCH('/v1/admin/projects/{project}', { params: { path: { project: 'generated' } }, body: { maxRunningJobs: 2 } })).data?.maxRunningJobs).toBe(2);
    const created = await admin.POST('/v1/admin/projects/{project}/keys', { params: { path: { project: 'other' } }, body: { name: 'second' } });
    expect(created.data?.key).toMatch(/^ty_/);
    expect((await admin.GET('/v1/admin/keys', { params: { query: { project: 'other' } } })).data?.data).toHaveLength(1);
    expect((await admin.DELETE('/v1/admin/keys/{id}', { params: { path: { id: created.data!.id } } })).data?.revokedAt).not.toBeNull();

    const document = JSON.parse(readFileSync(openapiPath, 'utf8')) as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
    expect([...called].sort()).toEqual(operations.sort());
  });
});
