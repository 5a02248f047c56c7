import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFailed, vi } from 'vitest';
import { freePort, startProcess, type Spawned } from '../support/processes.js';
import { startPostgres, startRedis, type ScratchRedis, type ScratchService } from '../support/scratch-services.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

/**
 * Real API and worker processes on a PostgreSQL and a Redis of the suite's own, and faults
 * thrown at the worker that trains: SIGKILL of that worker and of its training process,
 * terminated database sessions, restarts of PostgreSQL and Redis, pause and resume. Every job
 * must succeed with one metric row per epoch, a gap-free event log and no two trainers at once.
 *
 * `npm run chaos` runs the full schedule (CHAOS=full); `npm test` a reduced one.
 */
const full = process.env.CHAOS === 'full';
const schedule: Fault[] = full
  ? [
      ...Array<Fault>(20).fill('killWorker'),
      ...Array<Fault>(3).fill('killTrainer'),
      ...Array<Fault>(3).fill('terminateSessions'),
      'restartPostgres',
      'restartRedis',
      ...Array<Fault>(3).fill('pauseResume'),
    ]
  : ['killWorker', 'killTrainer', 'terminateSessions', 'restartPostgres', 'restartRedis', 'pauseResume', 'killWorker'];
// Interleaved, so each kind meets the others' aftermath: a fixed shuffle keeps runs comparable.
const faults = shuffle(schedule, 20261201);

type Fault = 'killWorker' | 'killTrainer' | 'terminateSessions' | 'restartPostgres' | 'restartRedis' | 'pauseResume';

vi.setConfig({ testTimeout: full ? 3_600_000 : 900_000, hookTimeout: 300_000 });

let postgres: ScratchService;
let redis: ScratchRedis;
let artifacts: string;
let base: string;
let env: Record<string, string>;
const workers: Spawned[] = [];
/** Every process started, dead ones included, for their logs when the test fails. */
const everyProcess: { name: string; process: Spawned }[] = [];
let api: Spawned;

beforeAll(async () => {
  [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  artifacts = mkdtempSync(path.join(tmpdir(), 'trainyard-chaos-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  env = {
    DATABASE_URL: postgres.url.replace(/\/postgres$/, '/trainyard_chaos'),
    REDIS_URL: redis.url,
    QUEUE_PREFIX: 'chaos',
    ARTIFACT_DIR: path.join(artifacts, 'artifacts'),
    DATA_DIR: path.join(artifacts, 'datasets'),
    TRAINYARD_BACKEND: 'wasm',
    AUTH_MODE: 'off',
    PORT: String(port),
    HOST: '127.0.0.1',
    // Short periods make each hand-over take seconds; the defaults are 10 s.
    QUEUE_LOCK_MS: '3000',
    LEASE_MS: '3000',
    RECONCILE_INTERVAL_MS: '2000',
    WORKER_HEARTBEAT_MS: '1000',
    RATE_LIMIT_MAX: '100000',
    FAILURE_LIMIT_MAX: '100000',
    LOG_LEVEL: 'warn',
  };
  api = startProcess('workers/api.ts', env);
  everyProcess.push({ name: 'api', process: api });
  await waitFor('the API to be ready', async () => (await fetch(`${base}/readyz`).then((r) => r.status, () => 0)) === 200, 120_000);
  await Promise.all([startWorker(), startWorker()]);
});

afterAll(async () => {
  for (const process of [...workers, api]) process?.child.kill('SIGKILL');
  await Promise.all([postgres?.dispose(), redis?.dispose()]);
  if (artifacts) rmSync(artifacts, { recursive: true, force: true });
});

async function startWorker(): Promise<Spawned> {
  const worker = startProcess('workers/training-worker.ts', env);
  workers.push(worker);
  everyProcess.push({ name: `worker ${worker.child.pid}`, process: worker });
  return worker;
}

/** A request that waits out the 503s of an outage (the API answers them at once, never hangs). */
async function call(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> {
  return waitFor(`${method} ${url} to answer`, async () => {
    const response = await fetch(`${base}${url}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    }).catch(() => null);
    if (!response) return null;
    if (response.status === 503) return null;
    expect(response.status, `${method} ${url}`).toBeLessThan(500);
    return { status: response.status, body: await response.json() };
  }, 120_000, 100);
}

interface JobView {
  id: string;
  status: string;
  progress: number;
  restarts: number;
  restartCauses: string[];
  failureReason: string | null;
  lastSeq: number;
}
const job = async (id: string) => (await call('GET', `/v1/jobs/${id}`)).body as JobView;

async function allEvents(id: string): Promise<{ seq: number; type: string; data: Record<string, any>; createdAt: string }[]> {
  const out = [];
  let after = 0;
  for (;;) {
    const page = (await call('GET', `/v1/jobs/${id}/events?after=${after}&limit=1000`)).body.data as { seq: number; type: string; data: Record<string, any>; createdAt: string }[];
    out.push(...page);
    if (page.length < 1000) return out;
    after = page.at(-1)!.seq;
  }
}

async function epochRows(id: string): Promise<number[]> {
  const rows = (await call('GET', `/v1/jobs/${id}/metrics?scope=epoch&limit=10000`)).body.data as { epoch: number }[];
  return rows.map((row) => row.epoch);
}

/** The worker process holding the job's lease, read where the truth is. */
async function leaseHolderPid(id: string): Promise<number | null> {
  const client = new pg.Client({ connectionString: env.DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ owner: string | null }>('SELECT lease_owner AS owner FROM jobs WHERE id = $1 AND lease_expires_at > now()', [id]);
    const owner = rows[0]?.owner;
    return owner ? Number(owner.split(':')[1]) : null;
  } finally {
    await client.end();
  }
}

function trainerOf(pid: number): number | null {
  try {
    const line = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .find((entry) => entry.includes('trainer-process'));
    return line ? Number.parseInt(line.trim(), 10) : null;
  } catch {
    return null;
  }
}

// The reduced schedule's seven faults land within the first 10–30 epochs; a job that ends before
// the last one is followed by another, and every job is checked the same way.
const EPOCHS = full ? 400 : 60;
const chaosSpec = () => tinyIrisSpec({ name: 'chaos', epochs: EPOCHS, batchSize: 8, logEveryBatches: 15, maxRestarts: 100 });

describe(`chaos (${full ? 'full' : 'reduced'}: ${faults.length} faults)`, () => {
  it('every job succeeds with one metric row per epoch, a gap-free log, and never two trainers at once', async () => {
    onTestFailed(() => {
      for (const { name, process } of everyProcess) console.error(`--- ${name} (last 4 000 characters)\n${process.output().slice(-4_000)}`);
    });
    const jobs: string[] = [];
    const handOvers: { fault: Fault; ms: number }[] = [];
    let current: string | null = null;
    let lastEpoch = 0;

    /** A job that is training now, after at least one more epoch than when we last looked. */
    const trainingJob = async (): Promise<string> => {
      for (;;) {
        if (!current || ['succeeded', 'failed', 'cancelled'].includes((await job(current)).status)) {
          current = (await call('POST', '/v1/jobs', chaosSpec())).body.id as string;
          jobs.push(current);
          lastEpoch = 0;
        }
        const id = current;
        const progressed = await waitFor('an epoch more of training', async () => {
          const view = await job(id);
          if (['succeeded', 'failed', 'cancelled'].includes(view.status)) return 'ended';
          const epoch = Math.max(0, ...(await epochRows(id)));
          return epoch > lastEpoch && (await leaseHolderPid(id)) !== null ? epoch : null;
        }, 180_000, 100);
        if (progressed === 'ended') continue;
        lastEpoch = progressed;
        return id;
      }
    };

    /**
     * Time from a fault to training again: to the next `resumed` event for the faults that stop
     * the run, to the next epoch row for those it rides out.
     */
    const timeToTrainAgain = async (id: string, fault: Fault, from: number, resumedBefore: number) => {
      const epochAtFault = lastEpoch;
      const stopsTheRun = fault === 'killWorker' || fault === 'killTrainer' || fault === 'pauseResume';
      await waitFor('training to resume', async () => {
        const view = await job(id);
        if (view.status === 'succeeded') return true;
        if (stopsTheRun) return (await allEvents(id)).filter((event) => event.type === 'resumed').length > resumedBefore;
        return Math.max(0, ...(await epochRows(id))) > epochAtFault && view.status === 'running';
      }, 300_000, 100);
      return Date.now() - from;
    };

    for (const [index, fault] of faults.entries()) {
      const id = await trainingJob();
      const resumedBefore = (await allEvents(id)).filter((event) => event.type === 'resumed').length;
      const at = Date.now();
      console.info(`fault ${index + 1}/${faults.length}: ${fault} on job ${id} at epoch ${lastEpoch}`);
      switch (fault) {
        case 'killWorker': {
          const pid = await leaseHolderPid(id);
          const victim = workers.find((worker) => worker.child.pid === pid);
          expect(victim, `the lease holder ${pid} is one of our workers (${workers.map((worker) => worker.child.pid).join(', ')})`).toBeDefined();
          victim!.child.kill('SIGKILL');
          await victim!.exited;
          workers.splice(workers.indexOf(victim!), 1);
          void startWorker();
          break;
        }
        case 'killTrainer': {
          const pid = await leaseHolderPid(id);
          const trainer = pid ? trainerOf(pid) : null;
          expect(trainer, 'the training process of the lease holder').not.toBeNull();
          process.kill(trainer!, 'SIGKILL');
          break;
        }
        case 'terminateSessions':
          await postgres.terminateSessions();
          break;
        case 'restartPostgres':
          await postgres.restart();
          break;
        case 'restartRedis':
          await redis.restart();
          break;
        case 'pauseResume': {
          expect([200, 202]).toContain((await call('POST', `/v1/jobs/${id}/pause`)).status);
          await waitFor('the pause to land', async () => (await job(id)).status === 'paused', 120_000, 20);
          // At once: a resumed run must not be killed by the paused run's leftovers.
          expect((await call('POST', `/v1/jobs/${id}/resume`)).status).toBe(200);
          break;
        }
      }
      handOvers.push({ fault, ms: await timeToTrainAgain(id, fault, at, resumedBefore) });
    }

    const results = [];
    for (const id of jobs) {
      const done = await waitFor(`job ${id} to finish`, async () => {
        const view = await job(id);
        return ['succeeded', 'failed', 'cancelled'].includes(view.status) && view;
      }, 900_000, 200);
      const events = await allEvents(id);
      const epochs = await epochRows(id);
      results.push({ id, done, events, epochs });
    }

    const report = summarise(handOvers, results);
    console.info(report);

    for (const { done, events, epochs } of results) {
      expect(done.status, done.failureReason ?? '').toBe('succeeded');
      // One row per epoch: none lost, none doubled.
      expect(epochs).toEqual(Array.from({ length: EPOCHS }, (_, i) => i + 1));
      // seq 1..lastSeq without a gap or a repeat.
      expect(events.map((event) => event.seq)).toEqual(Array.from({ length: done.lastSeq }, (_, i) => i + 1));
      expect(overlappingRuns(events)).toEqual([]);
    }
  });
});

/**
 * Two trainers at once would interleave their metrics: within one run (from one `started` or
 * `resumed` event to the next) steps only grow. Returns the seqs where a step went back.
 */
function overlappingRuns(events: { seq: number; type: string; data: Record<string, any> }[]): number[] {
  const bad: number[] = [];
  let lastStep = -1;
  for (const event of events) {
    if (event.type === 'started' || event.type === 'resumed') lastStep = -1;
    if (event.type !== 'metrics') continue;
    if (event.data.step < lastStep) bad.push(event.seq);
    lastStep = event.data.step;
  }
  return bad;
}

function summarise(handOvers: { fault: Fault; ms: number }[], results: { id: string; done: JobView; epochs: number[] }[]): string {
  const byFault = new Map<Fault, number[]>();
  for (const { fault, ms } of handOvers) byFault.set(fault, [...(byFault.get(fault) ?? []), ms]);
  const lines = ['fault              count  to training again: median  max (s)'];
  for (const [fault, times] of byFault) {
    const sorted = [...times].sort((a, b) => a - b);
    lines.push(`${fault.padEnd(18)} ${String(times.length).padStart(5)}  ${(sorted[Math.floor(sorted.length / 2)]! / 1000).toFixed(1).padStart(25)}  ${(sorted.at(-1)! / 1000).toFixed(1).padStart(7)}`);
  }
  for (const { id, done, epochs } of results) {
    const unique = new Set(epochs).size;
    lines.push(`job ${id}: ${done.status}, restarts ${done.restarts}, epoch rows ${epochs.length} (lost ${EPOCHS - unique}, doubled ${epochs.length - unique})`);
  }
  return lines.join('\n');
}

function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
