import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

// Real worker processes train here: minutes on a busy two-core machine.
vi.setConfig({ testTimeout: 180_000 });

interface JobBody {
  id: string;
  status: string;
  startedAt: string | null;
  finishedAt: string | null;
  waitingReason: string | null;
}

describe('rate limits per API key', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness('ratelimit', { AUTH_MODE: 'required', RATE_LIMIT_MAX: '5', RATE_LIMIT_WINDOW_MS: '60000' });
  });
  afterAll(async () => harness?.close());

  it('answers 429 with Retry-After past the limit, per key, and never limits probes', async () => {
    const first = await harness.apiKey('first');
    const second = await harness.apiKey('second');
    const api = () => request(harness.app.server);
    for (let i = 0; i < 5; i += 1) {
      const response = await api().get('/v1/jobs').set(first);
      expect(response.status).toBe(200);
      expect(Number(response.headers['x-ratelimit-remaining'])).toBe(4 - i);
    }
    const refused = await api().get('/v1/jobs').set(first);
    expect(refused.status).toBe(429);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.body).toMatchObject({ status: 429, title: 'Too Many Requests', retryAfterSeconds: retryAfter });
    expect(refused.body.detail).toContain('5 requests per 60 s');
    // Counted per key, in Redis: another key has its own budget.
    expect((await api().get('/v1/jobs').set(second)).status).toBe(200);
    for (let i = 0; i < 10; i += 1) expect((await api().get('/healthz')).status).toBe(200);
  });
});

describe('running jobs per project', () => {
  let harness: Harness;
  let alpha: { authorization: string };
  let beta: { authorization: string };
  const api = () => request(harness.app.server);
  const admin = { authorization: 'Bearer admin-token-for-the-limit-tests' };

  beforeAll(async () => {
    harness = await startHarness('projectlimit', {
      AUTH_MODE: 'required',
      ADMIN_TOKEN: 'admin-token-for-the-limit-tests',
      TRAINYARD_BACKEND: 'wasm',
      PROJECT_MAX_RUNNING_JOBS: '1',
      PROJECT_SLOT_RETRY_MS: '100',
    });
    await harness.startWorker({ WORKER_CONCURRENCY: 2 });
    alpha = await harness.apiKey('alpha');
    beta = await harness.apiKey('beta');
  });
  afterAll(async () => harness?.close());

  const submit = async (key: { authorization: string }, epochs: number) => (await api().post('/v1/jobs').set(key).send(tinyIrisSpec({ epochs }))).body as JobBody;
  const get = async (key: { authorization: string }, id: string) => (await api().get(`/v1/jobs/${id}`).set(key)).body as JobBody;
  const finished = (key: { authorization: string }, id: string) =>
    waitFor(`job ${id}`, async () => {
      const job = await get(key, id);
      return ['succeeded', 'failed'].includes(job.status) && job;
    });
  const overlap = (x: JobBody, y: JobBody) => Date.parse(x.startedAt!) < Date.parse(y.finishedAt!) && Date.parse(y.startedAt!) < Date.parse(x.finishedAt!);

  it("holds a project to its limit, says why a job waits, and does not hold back other projects", async () => {
    const first = await submit(alpha, 150);
    await waitFor('the first job to run', async () => (await get(alpha, first.id)).status === 'running');
    const second = await submit(alpha, 20);
    expect(second.status).toBe('queued');
    expect(second.waitingReason).toMatch(/project alpha is training 1 of the 1 jobs it may run at once/);
    // Project beta has a slot of its own, and the worker a second one.
    const other = await submit(beta, 20);
    const done = await Promise.all([finished(alpha, first.id), finished(alpha, second.id), finished(beta, other.id)]);
    expect(done.map((job) => job.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(overlap(done[0], done[1])).toBe(false);
    expect(Date.parse(done[1].startedAt!)).toBeGreaterThanOrEqual(Date.parse(done[0].finishedAt!));
    expect(overlap(done[0], done[2])).toBe(true);
  });

  it("a project's own limit (set through the admin API) replaces the default", async () => {
    const raised = await api().patch('/v1/admin/projects/alpha').set(admin).send({ maxRunningJobs: 2 });
    expect(raised.status).toBe(200);
    expect(raised.body.maxRunningJobs).toBe(2);
    const jobs = [await submit(alpha, 60), await submit(alpha, 60)];
    const done = await Promise.all(jobs.map((job) => finished(alpha, job.id)));
    expect(done.map((job) => job.status)).toEqual(['succeeded', 'succeeded']);
    expect(overlap(done[0]!, done[1]!)).toBe(true);
  });
});
