import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { withoutAccessToken } from '../../src/api/plugins/access-token.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { collectStream, rejectedUpgradeStatus } from '../support/stream-client.js';
import { waitFor } from '../support/wait.js';

const ADMIN_TOKEN = 'admin-token-for-the-auth-tests';
let harness: Harness;
// Two projects, each with a key; project A has a finished job, an upload and a queued job.
let a: { authorization: string; key: string };
let b: { authorization: string; key: string };
let finishedJob: string;
let checkpointId: string;
let uploadId: string;

const api = () => request(harness.app.server);
const csv = 'x1,x2,label\n' + Array.from({ length: 40 }, (_, i) => `${i % 7},${(i * 3) % 5},${i % 2 ? 'yes' : 'no'}`).join('\n') + '\n';

beforeAll(async () => {
  harness = await startHarness('auth', { AUTH_MODE: 'required', ADMIN_TOKEN, TRAINYARD_BACKEND: 'wasm' });
  await harness.startWorker();
  a = await harness.apiKey('alpha');
  b = await harness.apiKey('beta');
  const submitted = await api().post('/v1/jobs').set(a).send(tinyIrisSpec({ epochs: 2 }));
  expect(submitted.status).toBe(201);
  finishedJob = submitted.body.id;
  await waitFor('project A\'s job', async () => (await api().get(`/v1/jobs/${finishedJob}`).set(a)).body.status === 'succeeded');
  checkpointId = (await api().get(`/v1/jobs/${finishedJob}/checkpoints`).set(a)).body.data[0].id;
  const upload = await api().post('/v1/datasets?name=tiny&label=label').set(a).set('content-type', 'text/csv').send(csv);
  expect(upload.status).toBe(201);
  uploadId = upload.body.id;
});
afterAll(async () => harness?.close());

describe('API keys', () => {
  it('a /v1 request without a key is a 401 problem naming what to send', async () => {
    const response = await api().get('/v1/jobs');
    expect(response.status).toBe(401);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.headers['www-authenticate']).toContain('Bearer');
    expect(response.body).toMatchObject({ status: 401, title: 'Unauthorized' });
    expect(response.body.detail).toContain('Authorization: Bearer');
    expect(response.body.requestId).toBe(response.headers['x-request-id']);
  });

  it('refuses an unknown key, a malformed header and another scheme', async () => {
    expect((await api().get('/v1/jobs').set('authorization', 'Bearer ty_not-a-key')).status).toBe(401);
    expect((await api().get('/v1/jobs').set('authorization', 'Bearer')).status).toBe(401);
    expect((await api().get('/v1/jobs').set('authorization', `Basic ${Buffer.from('a:b').toString('base64')}`)).status).toBe(401);
  });

  it('leaves health, metrics, docs and the dashboard page public', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/docs/json', '/']) {
      expect((await api().get(path)).status, path).toBe(200);
    }
  });

  it('keeps only a hash: the key appears in no table', async () => {
    const rows = await harness.services.prisma.apiKey.findMany();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(a.key);
    expect(dump).not.toContain(b.key);
  });
});

describe('the admin API', () => {
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

  it('needs ADMIN_TOKEN, not a project key', async () => {
    expect((await api().get('/v1/admin/keys')).status).toBe(401);
    expect((await api().get('/v1/admin/keys').set(a)).status).toBe(401);
    expect((await api().get('/v1/admin/keys').set('authorization', 'Bearer wrong-token-of-some-length')).status).toBe(401);
  });

  it('creates a key shown once, lists keys without them, and revokes: the next request is a 401', async () => {
    const created = await api().post('/v1/admin/projects/gamma/keys').set(admin).send({ name: 'ci' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ project: 'gamma', name: 'ci', revokedAt: null });
    const key: string = created.body.key;
    expect(key.startsWith(created.body.prefix)).toBe(true);
    const gamma = { authorization: `Bearer ${key}` };
    expect((await api().get('/v1/jobs').set(gamma)).status).toBe(200);

    const listed = await api().get('/v1/admin/keys?project=gamma').set(admin);
    expect(listed.body.data).toHaveLength(1);
    expect(JSON.stringify(listed.body)).not.toContain(key);
    // lastUsedAt is written after the request, without holding it up (src/projects/project-service.ts).
    await vi.waitFor(
      async () => expect((await api().get('/v1/admin/keys?project=gamma').set(admin)).body.data[0].lastUsedAt).not.toBeNull(),
      { timeout: 5_000, interval: 50 },
    );

    expect((await api().delete(`/v1/admin/keys/${created.body.id}`).set(admin)).body.revokedAt).not.toBeNull();
    const refused = await api().get('/v1/jobs').set(gamma);
    expect(refused.status).toBe(401);
    expect(refused.body.detail).toContain('revoked');
    expect((await api().delete('/v1/admin/keys/01a21351-850b-71f7-8c05-000000000000').set(admin)).status).toBe(404);
  });

  it('validates project names and limits, naming the field', async () => {
    const badName = await api().post('/v1/admin/projects/Not%20Valid/keys').set(admin).send({});
    expect(badName.status).toBe(400);
    expect(badName.body.errors[0].field).toBe('project');
    const badLimit = await api().patch('/v1/admin/projects/alpha').set(admin).send({ maxRunningJobs: 0 });
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.errors[0].field).toBe('maxRunningJobs');
    expect((await api().patch('/v1/admin/projects/nobody').set(admin).send({ maxRunningJobs: 2 })).status).toBe(404);
  });
});

describe('isolation between projects', () => {
  it("another project's job is a 404 on every job route, never a 403", async () => {
    const paths = [
      ['get', `/v1/jobs/${finishedJob}`],
      ['get', `/v1/jobs/${finishedJob}/events`],
      ['get', `/v1/jobs/${finishedJob}/metrics`],
      ['get', `/v1/jobs/${finishedJob}/checkpoints`],
      ['get', `/v1/jobs/${finishedJob}/checkpoints/${checkpointId}/model.json`],
      ['get', `/v1/jobs/${finishedJob}/checkpoints/${checkpointId}/weights.bin`],
      ['get', `/v1/jobs/${finishedJob}/model/model.json`],
      ['get', `/v1/jobs/${finishedJob}/model/weights.bin`],
      ['post', `/v1/jobs/${finishedJob}/cancel`],
      ['post', `/v1/jobs/${finishedJob}/pause`],
      ['post', `/v1/jobs/${finishedJob}/resume`],
      ['post', `/v1/jobs/${finishedJob}/predict`],
    ] as const;
    for (const [method, path] of paths) {
      const own = await api()[method](path).set(a).send(method === 'post' ? (path.endsWith('predict') ? { inputs: [[5.1, 3.5, 1.4, 0.2]] } : {}) : undefined);
      // The owner reaches each (200, or 409 for an action a finished job cannot take).
      expect([200, 409], `${method} ${path} as the owner`).toContain(own.status);
      const other = await api()[method](path).set(b).send(method === 'post' ? (path.endsWith('predict') ? { inputs: [[5.1, 3.5, 1.4, 0.2]] } : {}) : undefined);
      expect(other.status, `${method} ${path} as another project`).toBe(404);
      expect(other.body.detail).toContain(finishedJob);
    }
  });

  it("never lists another project's jobs or uploads", async () => {
    expect((await api().get('/v1/jobs').set(a)).body.data.map((job: { id: string }) => job.id)).toContain(finishedJob);
    expect((await api().get('/v1/jobs').set(b)).body.data).toEqual([]);
    expect((await api().get('/v1/datasets').set(a)).body.uploaded.map((d: { id: string }) => d.id)).toEqual([uploadId]);
    expect((await api().get('/v1/datasets').set(b)).body.uploaded).toEqual([]);
  });

  it("another project's upload is a 404 and cannot be trained on or deleted", async () => {
    expect((await api().get(`/v1/datasets/${uploadId}`).set(b)).status).toBe(404);
    expect((await api().delete(`/v1/datasets/${uploadId}`).set(b)).status).toBe(404);
    const spec = tinyIrisSpec({ dataset: { name: 'upload', id: uploadId }, model: { layers: [{ type: 'dense', units: 2 }] } });
    const refused = await api().post('/v1/jobs').set(b).send(spec);
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0].field).toBe('dataset.id');
    expect((await api().post('/v1/jobs').set(a).send(spec)).status).toBe(201);
    expect((await api().get(`/v1/datasets/${uploadId}`).set(a)).status).toBe(200);
  });

  it('the same bytes uploaded by two projects are two data sets', async () => {
    const again = await api().post('/v1/datasets?name=tiny&label=label').set(b).set('content-type', 'text/csv').send(csv);
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(uploadId);
  });

  it("cannot start from another project's checkpoints", async () => {
    const transfer = await api()
      .post('/v1/jobs')
      .set(b)
      .send(tinyIrisSpec({ init: { from: { job: finishedJob } } }));
    expect(transfer.status).toBe(404);
    const columns = await api()
      .post('/v1/jobs')
      .set(b)
      .send(tinyIrisSpec({ model: { layers: [{ type: 'dense', units: 3 }], progressive: { columns: [{ job: finishedJob }] } } }));
    expect(columns.status).toBe(404);
  });

  it('Idempotency-Keys are per project: the same key in two projects makes two jobs', async () => {
    const first = await api().post('/v1/jobs').set(a).set('idempotency-key', 'shared-key').send(tinyIrisSpec());
    const second = await api().post('/v1/jobs').set(b).set('idempotency-key', 'shared-key').send(tinyIrisSpec());
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.headers['idempotent-replayed']).toBe('false');
    expect(second.body.id).not.toBe(first.body.id);
    for (const id of [first.body.id, second.body.id]) await api().post(`/v1/jobs/${id}/cancel`).set(id === first.body.id ? a : b);
  });

  it("a job's stream: 401 without a key, 404 for another project, events for the owner (header or access_token)", async () => {
    expect(await rejectedUpgradeStatus(harness.baseUrl, `/v1/jobs/${finishedJob}/stream`)).toBe(401);
    expect(await rejectedUpgradeStatus(harness.baseUrl, `/v1/jobs/${finishedJob}/stream`, b)).toBe(404);
    expect(await rejectedUpgradeStatus(harness.baseUrl, `/v1/jobs/${finishedJob}/stream?access_token=${b.key}`)).toBe(404);
    const byHeader = await collectStream(harness.baseUrl, finishedJob, { headers: a });
    expect(byHeader.messages.at(-1)?.data.status).toBe('succeeded');
    // Browsers cannot set headers on a WebSocket: the key may come as access_token.
    const socket = new WebSocket(`${harness.baseUrl.replace(/^http/, 'ws')}/v1/jobs/${finishedJob}/stream?access_token=${a.key}&after=0`);
    const [code] = (await once(socket, 'close')) as [number];
    expect(code).toBe(1000);
  });

  it('the all-jobs stream carries only its own project\'s jobs', async () => {
    const open = async (headers: Record<string, string>) => {
      const socket = new WebSocket(`${harness.baseUrl.replace(/^http/, 'ws')}/v1/stream`, { headers });
      const seen: string[] = [];
      socket.on('message', (raw) => {
        const message = JSON.parse(raw.toString()) as { kind: string; jobId?: string };
        if (message.kind === 'event') seen.push(message.jobId!);
      });
      await once(socket, 'open');
      return { socket, seen };
    };
    expect(await rejectedUpgradeStatus(harness.baseUrl, '/v1/stream')).toBe(401);
    const streamA = await open(a);
    const streamB = await open(b);
    const jobA = (await api().post('/v1/jobs').set(a).send(tinyIrisSpec({ epochs: 2 }))).body.id as string;
    const jobB = (await api().post('/v1/jobs').set(b).send(tinyIrisSpec({ epochs: 2 }))).body.id as string;
    await collectStream(harness.baseUrl, jobA, { headers: a });
    await collectStream(harness.baseUrl, jobB, { headers: b });
    await waitFor('both feeds', async () => streamA.seen.filter((id) => id === jobA).length >= 5 && streamB.seen.filter((id) => id === jobB).length >= 5);
    streamA.socket.close();
    streamB.socket.close();
    expect(streamA.seen).toContain(jobA);
    expect(streamA.seen).not.toContain(jobB);
    expect(streamB.seen).toContain(jobB);
    expect(streamB.seen).not.toContain(jobA);
  });

  it("GET /v1/workers shows shared workers but only the caller's running jobs", async () => {
    const long = (await api().post('/v1/jobs').set(a).send(tinyIrisSpec({ epochs: 400 }))).body.id as string;
    const running = await waitFor('the long job in a heartbeat', async () => {
      const workers = (await api().get('/v1/workers').set(a)).body.data as { runningJobs: string[] }[];
      return workers.some((worker) => worker.runningJobs.includes(long)) && workers;
    });
    expect(running.length).toBeGreaterThan(0);
    const seenByB = (await api().get('/v1/workers').set(b)).body.data as { runningJobs: string[]; deviceClass: string }[];
    expect(seenByB.length).toBe(running.length);
    expect(seenByB.flatMap((worker) => worker.runningJobs)).toEqual([]);
    await api().post(`/v1/jobs/${long}/cancel`).set(a);
    await waitFor('the cancel', async () => (await api().get(`/v1/jobs/${long}`).set(a)).body.status === 'cancelled');
  });
});

describe('secrets stay out of URLs that get logged', () => {
  it('takes access_token out of the URL before routing and logging', () => {
    const raw = { url: '/v1/jobs/x/stream?after=3&access_token=ty_secret' } as IncomingMessage;
    expect(withoutAccessToken(raw)).toBe('/v1/jobs/x/stream?after=3');
    expect(withoutAccessToken({ url: '/v1/stream?access_token=ty_secret' } as IncomingMessage)).toBe('/v1/stream');
    expect(withoutAccessToken({ url: '/v1/jobs?limit=2' } as IncomingMessage)).toBe('/v1/jobs?limit=2');
  });

  it('a problem body never echoes the token', async () => {
    const response = await api().get(`/v1/jobs/not-a-job?access_token=${a.key}`).set(a);
    expect(response.status).toBe(404);
    expect(JSON.stringify(response.body)).not.toContain(a.key);
  });
});
