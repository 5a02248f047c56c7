import { Writable } from 'node:stream';
import sharp from 'sharp';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { rawRequest } from '../support/raw-http.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';
import { zip } from '../support/zip-writer.js';

/**
 * Auth as an attacker tries it: every registered route, reached through every spelling of its
 * path a router might accept, with no key, a wrong key and another project's key. Nothing of
 * project A's may come back, nothing may be a 5xx, and the admin routes answer only ADMIN_TOKEN.
 */
const ADMIN_TOKEN = 'admin-token-for-the-route-access-tests';
let harness: Harness;
let noAdmin: Harness;
let a: { authorization: string; key: string };
let b: { authorization: string; key: string };
const owned: Record<string, string> = {};
const logLines: string[] = [];
// Project A's data that no path carries: seeing it in an answer to anyone else is a leak.
const SECRET_JOB_NAME = 'alpha-private-job-name';
const SECRET_DATASET_NAME = 'alpha-private-dataset-name';

const logSink = new Writable({
  write(chunk: Buffer, _encoding, callback) {
    logLines.push(chunk.toString('utf8'));
    callback();
  },
});

const csv = 'x1,x2,label\n' + Array.from({ length: 20 }, (_, i) => `${i % 7},${(i * 3) % 5},${i % 2 ? 'yes' : 'no'}`).join('\n') + '\n';

beforeAll(async () => {
  harness = await startHarness('routeaccess', { AUTH_MODE: 'required', ADMIN_TOKEN, TRAINYARD_BACKEND: 'wasm', LOG_LEVEL: 'info' }, { logDestination: logSink });
  noAdmin = await startHarness('routenoadmin', { AUTH_MODE: 'required', TRAINYARD_BACKEND: 'wasm' });
  await harness.startWorker();
  a = await harness.apiKey('alpha');
  b = await harness.apiKey('beta');
  const api = () => request(harness.app.server);
  const job = await api().post('/v1/jobs').set(a).send(tinyIrisSpec({ epochs: 2, name: SECRET_JOB_NAME }));
  expect(job.status).toBe(201);
  owned.id = job.body.id;
  await waitFor("project A's job", async () => (await api().get(`/v1/jobs/${owned.id}`).set(a)).body.status === 'succeeded');
  owned.checkpointId = (await api().get(`/v1/jobs/${owned.id}/checkpoints`).set(a)).body.data[0].id;
  const upload = await api().post(`/v1/datasets?name=${SECRET_DATASET_NAME}&label=label`).set(a).set('content-type', 'text/csv').send(csv);
  expect(upload.status).toBe(201);
  owned.datasetId = upload.body.id;
  // An image set too: only it has a sample grid.
  const image = (shade: number) => sharp(Buffer.alloc(4, shade), { raw: { width: 2, height: 2, channels: 1 } }).png().toBuffer();
  const archive = zip([{ name: 'train/a/0.png', data: await image(10) }, { name: 'train/b/0.png', data: await image(200) }]);
  const images = await api().post(`/v1/datasets?name=${SECRET_DATASET_NAME}`).set(a).set('content-type', 'application/zip').send(archive);
  expect(images.status).toBe(201);
  owned.imageDatasetId = images.body.id;
  owned.keyId = (await harness.services.projects.listKeys('alpha'))[0]!.id;
  const study = await api()
    .post('/v1/studies')
    .set(a)
    .send({ base: tinyIrisSpec({ epochs: 1 }), space: { learningRate: { type: 'choice', values: [0.05] } }, objective: { metric: 'val_accuracy' }, algorithm: { type: 'grid' } });
  expect(study.status).toBe(201);
  owned.studyId = study.body.id;
  owned.project = 'alpha';
});
afterAll(async () => {
  await harness?.close();
  await noAdmin?.close();
});

/** A route pattern with its parameters filled by project A's resources. */
function concrete(url: string): string {
  return url
    .replace(':id', url.endsWith('/samples.png') ? owned.imageDatasetId! : url.startsWith('/v1/datasets') ? owned.datasetId! : url.startsWith('/v1/admin/keys') ? owned.keyId! : url.startsWith('/v1/studies') ? owned.studyId! : owned.id!)
    .replace(':checkpointId', owned.checkpointId!)
    .replace(':file', 'model.json')
    .replace(':project', owned.project!);
}

/** The same path as routers, proxies and clients might spell it. */
export function spellings(path: string): string[] {
  const segments = path.split('/').slice(1);
  const join = (parts: string[]) => `/${parts.join('/')}`;
  const encodeFirst = (segment: string, hex: (code: number) => string) => `%${hex(segment.charCodeAt(0))}${segment.slice(1)}`;
  const out = new Set<string>([path]);
  segments.forEach((segment, i) => {
    if (!segment) return;
    for (const hex of [(code: number) => code.toString(16).toUpperCase(), (code: number) => code.toString(16)]) {
      out.add(join(segments.map((s, j) => (j === i ? encodeFirst(s, hex) : s))));
    }
    out.add(join(segments.map((s, j) => (j === i ? [...s].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('') : s))));
    out.add(join(segments.map((s, j) => (j === i ? s.toUpperCase() : s))));
    out.add(join([...segments.slice(0, i), '', ...segments.slice(i)]));
    out.add(join([...segments.slice(0, i), '.', ...segments.slice(i)]));
    out.add(join([...segments.slice(0, i), 'x', '..', ...segments.slice(i)]));
    out.add(join([...segments.slice(0, i), '%2e', ...segments.slice(i)]));
    if (i > 0) out.add(`${join(segments.slice(0, i))}%2F${segments.slice(i).join('/')}`);
  });
  out.add(`/${path}`);
  out.add(`${path}/`);
  out.add(path.toUpperCase());
  out.add(`${path}?`);
  out.add(`${path};x=1`);
  out.add(`${path}%00`);
  return [...out];
}

describe('every route, every spelling of its path', () => {
  it('never answers project A\'s resources, a 5xx, or an admin route without ADMIN_TOKEN', async () => {
    const routes = harness.app.routeTable.filter((route) => route.method !== 'HEAD' && route.method !== 'OPTIONS');
    expect(routes.length).toBeGreaterThan(20);
    const ids = [owned.id!, owned.datasetId!, owned.imageDatasetId!, owned.checkpointId!, owned.keyId!];
    const outsiders: [string, Record<string, string>][] = [
      ['no key', {}],
      ['a wrong key', { authorization: 'Bearer ty_0000000000000000000000000000000000000000000' }],
      ['a malformed header', { authorization: 'Bearer' }],
      ["another project's key", { authorization: b.authorization }],
    ];
    const failures: string[] = [];
    let requests = 0;
    for (const route of routes) {
      const path = concrete(route.url);
      const isAdmin = route.url.startsWith('/v1/admin');
      const isPublic = !route.url.startsWith('/v1');
      const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : '{}';
      const bodyHeaders: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
      const callers: [string, Record<string, string>][] = isAdmin ? [...outsiders, ["the project's own key", { authorization: a.authorization }]] : outsiders;
      for (const spelling of spellings(path)) {
        for (const [who, headers] of callers) {
          const response = await rawRequest(harness.baseUrl, route.method, spelling, { ...headers, ...bodyHeaders }, body);
          requests += 1;
          const where = `${route.method} ${spelling} with ${who}: ${response.status}`;
          if (response.status >= 500) failures.push(`${where} (a server error)`);
          if (isPublic) continue;
          if (isAdmin && response.status < 400) failures.push(`${where} (an admin route answered)`);
          // An id the caller put in the path may be echoed (`instance`, a 404's detail); nothing else of A's may appear.
          const secrets = [SECRET_JOB_NAME, SECRET_DATASET_NAME, a.key, ...ids.filter((id) => !path.includes(id))];
          const leaked = secrets.find((secret) => response.text.includes(secret));
          if (leaked) failures.push(`${where} (leaked ${leaked.slice(0, 12)}…)`);
          if (who !== "another project's key" && response.status < 400) failures.push(`${where} (answered without a valid key)`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(1000);
    // Nothing was revoked or minted on the way: both keys still work, and no project gained a key.
    expect((await request(harness.app.server).get('/v1/jobs').set(a)).status).toBe(200);
    expect((await request(harness.app.server).get('/v1/jobs').set(b)).status).toBe(200);
    expect((await harness.services.projects.listKeys()).map((key) => key.project).sort()).toEqual(['alpha', 'beta']);
    // Over a thousand requests, each checked against the contract: seconds alone, minutes on a loaded machine.
  }, 300_000);

  it('routes A owns still answer A through the plain path (the walk above can see a success)', async () => {
    for (const route of harness.app.routeTable.filter((r) => r.method === 'GET' && r.url.startsWith('/v1/') && !r.url.startsWith('/v1/admin'))) {
      const response = await rawRequest(harness.baseUrl, 'GET', concrete(route.url), { authorization: a.authorization });
      expect([200, 426], `GET ${route.url}`).toContain(response.status);
    }
  });
});

describe('the admin API behind encoded paths (the reported bypass)', () => {
  for (const [config, expected] of [
    ['ADMIN_TOKEN set', 401],
    ['ADMIN_TOKEN unset', 403],
  ] as const) {
    it(`with ${config}, a project key gets ${expected} on /v1/%61dmin/…: no listing, no minting, no revoking`, async () => {
      const target = config === 'ADMIN_TOKEN set' ? harness : noAdmin;
      const key = config === 'ADMIN_TOKEN set' ? a : await noAdmin.apiKey('alpha');
      const victim = await target.apiKey('victim');
      const victimKeyId = (await target.services.projects.listKeys('victim'))[0]!.id;
      const auth = { authorization: key.authorization };
      const list = await rawRequest(target.baseUrl, 'GET', '/v1/%61dmin/keys', auth);
      const mint = await rawRequest(target.baseUrl, 'POST', '/v1/%61dmin/projects/victim/keys', { ...auth, 'content-type': 'application/json' }, '{}');
      const revoke = await rawRequest(target.baseUrl, 'DELETE', `/v1/%61dmin/keys/${victimKeyId}`, auth);
      expect([list.status, mint.status, revoke.status]).toEqual([expected, expected, expected]);
      expect(list.text).not.toContain('victim');
      expect((await target.services.projects.listKeys('victim')).map((k) => k.revokedAt)).toEqual([null]);
      expect((await request(target.app.server).get('/v1/jobs').set(victim)).status).toBe(200);
    });
  }

  it('/%761/jobs without a key is a 401, not a 500', async () => {
    const response = await rawRequest(harness.baseUrl, 'GET', '/%761/jobs');
    expect(response.status).toBe(401);
    expect(response.headers['content-type']).toContain('application/problem+json');
  });
});

describe('keys stay out of the logs', () => {
  it('in any spelling of access_token', async () => {
    const spellingsOfTheParameter = ['access_token', 'access%5Ftoken', 'access%5ftoken', 'ACCESS_TOKEN', 'Access_Token', '%61ccess_token', 'access_token&access_token'];
    for (const parameter of spellingsOfTheParameter) {
      for (const path of [`/v1/jobs?${parameter}=${a.key}`, `/v1/jobs/${owned.id}/stream?after=1&${parameter}=${a.key}`, `/v1/nowhere?${parameter}=${a.key}`]) {
        const response = await rawRequest(harness.baseUrl, 'GET', path, { authorization: a.authorization });
        expect(response.text).not.toContain(a.key);
      }
    }
    await waitFor('the request log lines', async () => logLines.some((line) => line.includes('/v1/nowhere')));
    const leaked = logLines.filter((line) => line.includes(a.key) || line.includes(a.key.slice(3)));
    expect(leaked).toEqual([]);
  });
});
