import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { freePort, startProcess, type Spawned } from '../support/processes.js';
import { tinyIrisSpec } from '../support/specs.js';
import { collectStream, type StreamMessage } from '../support/stream-client.js';
import { waitFor } from '../support/wait.js';

// Real processes are started and killed here: minutes on a busy two-core machine.
vi.setConfig({ testTimeout: 180_000 });
// Real processes are killed here. Short lock, lease and reconcile periods make the hand-over fast.
let harness: Harness;
let env: Record<string, string>;
const spawned: Spawned[] = [];

beforeAll(async () => {
  harness = await startHarness('crash');
  env = {
    DATABASE_URL: harness.config.DATABASE_URL,
    QUEUE_PREFIX: harness.config.QUEUE_PREFIX,
    ARTIFACT_DIR: harness.config.ARTIFACT_DIR,
    TRAINYARD_BACKEND: 'wasm',
    QUEUE_LOCK_MS: '1500',
    LEASE_MS: '1500',
    RECONCILE_INTERVAL_MS: '1000',
    LOG_LEVEL: 'info',
    AUTH_MODE: harness.config.AUTH_MODE,
    // The child API counts in the same Redis keys as the harness's app, which the polls below fill.
    RATE_LIMIT_MAX: String(harness.config.RATE_LIMIT_MAX),
    FAILURE_LIMIT_MAX: String(harness.config.FAILURE_LIMIT_MAX),
  };
});
afterAll(async () => {
  for (const process of spawned) process.child.kill('SIGKILL');
  await harness?.close();
});

function worker(): Spawned {
  const started = startProcess('workers/training-worker.ts', env);
  spawned.push(started);
  return started;
}

const api = () => request(harness.app.server);
const job = async (id: string) => (await api().get(`/v1/jobs/${id}`)).body as { status: string; attempts: number; restarts: number; progress: number };
const events = async (id: string) => (await api().get(`/v1/jobs/${id}/events?limit=1000`)).body.data as StreamMessage[];
const epochRows = async (id: string) => ((await api().get(`/v1/jobs/${id}/metrics?scope=epoch&limit=10000`)).body.data as { epoch: number }[]).map((m) => m.epoch);
const longSpec = (epochs: number) => tinyIrisSpec({ epochs, batchSize: 8, logEveryBatches: 15 });

async function submit(spec: object): Promise<string> {
  const response = await api().post('/v1/jobs').send(spec);
  expect(response.status).toBe(201);
  return response.body.id;
}

const finished = (id: string, timeoutMs = 90_000) =>
  waitFor(`job ${id} to finish`, async () => {
    const current = await job(id);
    return ['succeeded', 'failed', 'cancelled'].includes(current.status) && current;
  }, timeoutMs);

describe('a worker killed with SIGKILL mid-epoch', () => {
  it('another worker resumes the job from its last checkpoint: nothing lost, nothing doubled', async () => {
    const first = worker();
    const id = await submit(longSpec(120));
    await waitFor('a checkpoint and then some', async () => {
      const log = await events(id);
      return log.some((e) => e.type === 'checkpoint') && (await job(id)).progress > 0.1;
    });
    first.child.kill('SIGKILL');
    const killedAt = Date.now();
    await first.exited;

    worker();
    const resumed = await waitFor('the job to resume', async () => (await events(id)).find((e) => e.type === 'resumed'), 60_000, 20);
    const handOverMs = Date.now() - killedAt;
    console.info(`SIGKILL → resumed training: ${handOverMs} ms`);

    const done = await finished(id);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(resumed.data.fromEpoch).toBeGreaterThanOrEqual(1);
    expect(await epochRows(id)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    const statuses = (await events(id)).filter((e) => e.type === 'status').map((e) => e.data.status);
    // running → queued: the worker that took the job over counted the restart, with its cause.
    expect(statuses).toEqual(['queued', 'running', 'queued', 'running', 'succeeded']);
    expect(done).toMatchObject({ restarts: 1 });
  });
});

describe('a worker that gets SIGTERM', () => {
  it('checkpoints, hands the job back, exits 0; the next worker continues from that checkpoint', async () => {
    for (const process of spawned) process.child.kill('SIGKILL');
    const first = worker();
    const id = await submit(longSpec(120));
    await waitFor('progress', async () => (await job(id)).progress > 0.1);
    first.child.kill('SIGTERM');
    const exit = await first.exited;
    expect(exit.code).toBe(0);
    expect((await job(id)).status).toBe('queued');
    const checkpoints = (await api().get(`/v1/jobs/${id}/checkpoints`)).body.data as { reason: string; step: number }[];
    const shutdown = checkpoints.find((c) => c.reason === 'shutdown');
    expect(shutdown).toBeDefined();

    worker();
    const done = await finished(id);
    expect(done.status).toBe('succeeded');
    expect((await events(id)).find((e) => e.type === 'resumed')?.data).toMatchObject({ fromStep: shutdown!.step, reason: 'shutdown' });
    expect(await epochRows(id)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
  });
});

describe('Redis forgetting the queue', () => {
  it('re-queues waiting jobs from PostgreSQL and never runs a job twice at once', async () => {
    for (const process of spawned) process.child.kill('SIGKILL');
    worker();
    const running = await submit(longSpec(150));
    const waiting = await submit(tinyIrisSpec());
    await waitFor('the first job to run', async () => (await job(running)).progress > 0.05);
    // What a Redis restart does to us (it keeps nothing on disk): every key of this deployment gone.
    const keys = await harness.services.redis.keys(`${harness.config.QUEUE_PREFIX}:*`);
    await harness.services.redis.del(...keys);

    const [runningDone, waitingDone] = await Promise.all([finished(running), finished(waiting)]);
    expect(runningDone).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(waitingDone.status).toBe('succeeded');
    const statuses = (await events(running)).filter((e) => e.type === 'status').map((e) => e.data.status);
    expect(statuses).toEqual(['queued', 'running', 'succeeded']);
    expect(await epochRows(running)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
  });
});

describe('cancel across processes', () => {
  it('reaches the worker process that runs the job and ends it within a batch', async () => {
    for (const process of spawned) process.child.kill('SIGKILL');
    worker();
    const id = await submit(longSpec(200));
    await waitFor('progress', async () => (await job(id)).progress > 0.05);
    const requested = Date.now();
    expect((await api().post(`/v1/jobs/${id}/cancel`)).status).toBe(202);
    await waitFor('the cancel to land', async () => (await job(id)).status === 'cancelled', 10_000, 10);
    expect(Date.now() - requested).toBeLessThan(3_000);
  });
});

describe('the API restarted while a client streams', () => {
  it('the client reconnects with its last seq and misses nothing', async () => {
    for (const process of spawned) process.child.kill('SIGKILL');
    worker();
    const port = await freePort();
    const apiEnv = { ...env, PORT: String(port), HOST: '127.0.0.1' };
    const base = `http://127.0.0.1:${port}`;
    const startApi = async () => {
      const started = startProcess('workers/api.ts', apiEnv);
      spawned.push(started);
      await waitFor('the API to be ready', async () => (await fetch(`${base}/readyz`).then((r) => r.status, () => 0)) === 200);
      return started;
    };
    const first = await startApi();
    const id = await submit(longSpec(80));
    const seen: StreamMessage[] = [];
    // The stream breaks when the API dies mid-run.
    const firstStream = collectStream(base, id, { timeoutMs: 60_000 });
    await waitFor('events to flow', async () => (await job(id)).progress > 0.1);
    first.child.kill('SIGKILL');
    const broken = await firstStream;
    seen.push(...broken.messages);
    expect(broken.closeCode).not.toBe(1000);

    await startApi();
    const rest = await collectStream(base, id, { after: seen.at(-1)!.seq, timeoutMs: 90_000 });
    seen.push(...rest.messages);
    expect(rest.closeCode).toBe(1000);
    expect(seen.map((m) => m.seq)).toEqual(seen.map((_, i) => i + 1));
    expect(seen.at(-1)).toMatchObject({ type: 'status', data: { status: 'succeeded' } });
  });
});
