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
  // The first test's two workers, started side by side.
  workersAlive(2);
});
afterAll(async () => {
  for (const process of spawned) process.child.kill('SIGKILL');
  await harness?.close();
});

const workers: Spawned[] = [];
const alive = (process: Spawned) => process.child.exitCode === null && process.child.signalCode === null;

function worker(): Spawned {
  const started = startProcess('workers/training-worker.ts', env);
  spawned.push(started);
  workers.push(started);
  return started;
}

/**
 * Worker processes are shared by the tests. The first two run two, one to stop (whichever took the
 * job) and one to take its job over; the others run one, which their job must go to. This keeps
 * `count` of the live ones, kills the rest and starts what is missing.
 */
function workersAlive(count: number): void {
  const live = workers.filter(alive);
  for (const process of live.slice(count)) process.child.kill('SIGKILL');
  for (let i = live.length; i < count; i++) worker();
}

/** The worker process training job `id`, as the workers' heartbeats say (one beats as it takes a job). */
async function holderOf(id: string): Promise<Spawned> {
  const pid = await waitFor(`a worker to take job ${id}`, async () => {
    const heartbeats = (await api().get('/v1/workers')).body.data as { pid: number; runningJobs: string[] }[];
    return heartbeats.find((heartbeat) => heartbeat.runningJobs.includes(id))?.pid;
  });
  const holder = workers.find((process) => process.child.pid === pid);
  expect(holder && alive(holder)).toBe(true);
  return holder!;
}

const api = () => request(harness.app.server);
const job = async (id: string) => (await api().get(`/v1/jobs/${id}`)).body as { status: string; attempts: number; restarts: number; progress: number };
const events = async (id: string) => (await api().get(`/v1/jobs/${id}/events?limit=1000`)).body.data as StreamMessage[];
const checkpoints = async (id: string) => (await api().get(`/v1/jobs/${id}/checkpoints`)).body.data as { reason: string; step: number }[];
const epochRows = async (id: string) => ((await api().get(`/v1/jobs/${id}/metrics?scope=epoch&limit=10000`)).body.data as { epoch: number }[]).map((m) => m.epoch);
// Many small steps: the tests stop them a few epochs in, with most of the run still ahead.
const EPOCHS = 40;
const longSpec = (epochs = EPOCHS) => tinyIrisSpec({ epochs, batchSize: 8, logEveryBatches: 15 });

async function submit(spec: object): Promise<string> {
  const response = await api().post('/v1/jobs').send(spec);
  expect(response.status).toBe(201);
  return response.body.id;
}

/** The first event of `type` the job records from now on; each poll reads only the events it has not seen. */
async function nextEvent(id: string, type: string, timeoutMs: number, everyMs: number): Promise<StreamMessage> {
  let after = (await events(id)).at(-1)?.seq ?? 0;
  return waitFor(`a ${type} event of job ${id}`, async () => {
    const fresh = (await api().get(`/v1/jobs/${id}/events?after=${after}&limit=1000`)).body.data as StreamMessage[];
    after = fresh.at(-1)?.seq ?? after;
    return fresh.find((e) => e.type === type);
  }, timeoutMs, everyMs);
}

const finished = (id: string, timeoutMs = 90_000) =>
  waitFor(`job ${id} to finish`, async () => {
    const current = await job(id);
    return ['succeeded', 'failed', 'cancelled'].includes(current.status) && current;
  }, timeoutMs);

describe('a worker killed with SIGKILL mid-epoch', () => {
  it('another worker resumes the job from its last checkpoint: nothing lost, nothing doubled', async () => {
    workersAlive(2);
    const id = await submit(longSpec());
    const holder = await holderOf(id);
    await waitFor('a checkpoint and then some', async () => (await job(id)).progress > 0.1 && (await checkpoints(id)).length > 0);
    const resumedEvent = nextEvent(id, 'resumed', 60_000, 20);
    holder.child.kill('SIGKILL');
    const killedAt = Date.now();
    await holder.exited;
    // The next test's second worker starts while this one's job finishes.
    workersAlive(2);

    const resumed = await resumedEvent;
    const handOverMs = Date.now() - killedAt;
    console.info(`SIGKILL → resumed training: ${handOverMs} ms`);

    const done = await finished(id);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(resumed.data.fromEpoch).toBeGreaterThanOrEqual(1);
    expect(await epochRows(id)).toEqual(Array.from({ length: EPOCHS }, (_, i) => i + 1));
    const statuses = (await events(id)).filter((e) => e.type === 'status').map((e) => e.data.status);
    // running → queued: the worker that took the job over counted the restart, with its cause.
    expect(statuses).toEqual(['queued', 'running', 'queued', 'running', 'succeeded']);
    expect(done).toMatchObject({ restarts: 1 });
  });
});

describe('a worker that gets SIGTERM', () => {
  it('checkpoints, hands the job back, exits 0; the next worker continues from that checkpoint', async () => {
    // Two workers (one perhaps still starting): the other takes the job the moment it is handed back.
    workersAlive(2);
    const id = await submit(longSpec());
    const holder = await holderOf(id);
    await waitFor('progress', async () => (await job(id)).progress > 0.1);
    holder.child.kill('SIGTERM');
    const exit = await holder.exited;
    expect(exit.code).toBe(0);
    const shutdown = (await checkpoints(id)).find((c) => c.reason === 'shutdown');
    expect(shutdown).toBeDefined();

    const done = await finished(id);
    // Handed back, not left running for its lease to lapse: that would be a restart, with another cause.
    expect(done).toMatchObject({ status: 'succeeded', restarts: 0 });
    const log = await events(id);
    const statuses = log.filter((e) => e.type === 'status');
    expect(statuses.map((e) => e.data.status)).toEqual(['queued', 'running', 'queued', 'running', 'succeeded']);
    expect(statuses[2]!.data.reason).toEqual(expect.stringContaining('shutting down'));
    expect(log.find((e) => e.type === 'resumed')?.data).toMatchObject({ fromStep: shutdown!.step, reason: 'shutdown' });
    expect(await epochRows(id)).toEqual(Array.from({ length: EPOCHS }, (_, i) => i + 1));
  });
});

describe('Redis forgetting the queue', () => {
  it('re-queues waiting jobs from PostgreSQL and never runs a job twice at once', async () => {
    workersAlive(1);
    const first = await submit(longSpec());
    const waiting = await submit(tinyIrisSpec());
    await waitFor('the first job to run', async () => (await job(first)).progress > 0.05);
    // What a Redis restart does to us (it keeps nothing on disk): every key of this deployment gone.
    const keys = await harness.services.redis.keys(`${harness.config.QUEUE_PREFIX}:*`);
    await harness.services.redis.del(...keys);
    // Reconciliation queues the waiting job again while the first one still trains.
    await waitFor('the waiting job to be queued again', async () => (await harness.services.queues.state(waiting)) !== 'unknown');
    expect((await job(first)).status).toBe('running');

    const [firstDone, waitingDone] = await Promise.all([finished(first), finished(waiting)]);
    expect(firstDone).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(waitingDone.status).toBe('succeeded');
    const statuses = (await events(first)).filter((e) => e.type === 'status').map((e) => e.data.status);
    expect(statuses).toEqual(['queued', 'running', 'succeeded']);
    expect(await epochRows(first)).toEqual(Array.from({ length: EPOCHS }, (_, i) => i + 1));
  });
});

describe('cancel across processes', () => {
  it('reaches the worker process that runs the job and ends it within a batch', async () => {
    workersAlive(1);
    const id = await submit(longSpec(200));
    await waitFor('progress', async () => (await job(id)).progress > 0);
    const requested = Date.now();
    expect((await api().post(`/v1/jobs/${id}/cancel`)).status).toBe(202);
    await waitFor('the cancel to land', async () => (await job(id)).status === 'cancelled', 10_000, 10);
    expect(Date.now() - requested).toBeLessThan(3_000);
  });
});

describe('the API restarted while a client streams', () => {
  it('the client reconnects with its last seq and misses nothing', async () => {
    workersAlive(1);
    const startApi = async () => {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const started = startProcess('workers/api.ts', { ...env, PORT: String(port), HOST: '127.0.0.1' });
      spawned.push(started);
      await waitFor('the API to be ready', async () => (await fetch(`${base}/readyz`).then((r) => r.status, () => 0)) === 200);
      return { process: started, base };
    };
    // The API the client reconnects to starts beside the one that dies, so the job still trains when it does.
    const [first, second] = await Promise.all([startApi(), startApi()]);
    const id = await submit(longSpec());
    const seen: StreamMessage[] = [];
    // The stream breaks when the API dies mid-run.
    const firstStream = collectStream(first.base, id, { timeoutMs: 60_000 });
    await waitFor('events to flow', async () => (await job(id)).progress > 0.1);
    first.process.child.kill('SIGKILL');
    const broken = await firstStream;
    seen.push(...broken.messages);
    expect(broken.closeCode).not.toBe(1000);

    const rest = await collectStream(second.base, id, { after: seen.at(-1)!.seq, timeoutMs: 90_000 });
    seen.push(...rest.messages);
    expect(rest.closeCode).toBe(1000);
    expect(seen.map((m) => m.seq)).toEqual(seen.map((_, i) => i + 1));
    expect(seen.at(-1)).toMatchObject({ type: 'status', data: { status: 'succeeded' } });
  });
});
