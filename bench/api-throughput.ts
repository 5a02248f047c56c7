import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { loadConfig } from '../src/config/config.js';
import { createServices } from '../src/infra/services.js';
import { createLogger } from '../src/logging/logger.js';
import { dropBenchState, waitForReady } from './bench-api.js';

const root = fileURLToPath(new URL('../', import.meta.url));

export interface ApiRow {
  jobs: number;
  endpoint: string;
  apiRps: number[];
  echoRps: number[];
  apiP99Ms: number[];
  echoP99Ms: number[];
  /** The API process's CPU time (user + system) per request, in µs: steadier than its rate on a shared machine. */
  apiCpuUs: number[];
  non2xx: number;
}

const spec = {
  name: 'bench: api throughput',
  dataset: { name: 'iris' },
  model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 3 }] },
  optimizer: 'adam',
  epochs: 5,
};

// USER_HZ: 100 on every Linux we run (getconf CLK_TCK); Node has no binding for sysconf.
const clockTicks = 100;

/** A process's CPU time so far (user + system) in ms, from /proc: the API is a child, so process.cpuUsage cannot see it. */
function cpuTimeMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}

async function load(url: string, options: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string; connections: number; seconds: number; pid?: number }) {
  const cpuBefore = options.pid === undefined ? 0 : cpuTimeMs(options.pid);
  const result = await autocannon({ url, connections: options.connections, duration: options.seconds, method: options.method ?? 'GET', headers: options.headers, body: options.body });
  const cpuUs = options.pid === undefined ? Number.NaN : ((cpuTimeMs(options.pid) - cpuBefore) * 1000) / result.requests.total;
  return { rps: result.requests.average, p99: result.latency.p99, non2xx: result.non2xx + result.errors + result.timeouts, cpuUs };
}


/** Copies one real job row `count` times (other ids, finished), so reads meet a table of that size. */
async function growJobsTable(databaseUrl: string, templateId: string, count: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const [{ n }] = (await client.query<{ n: string }>('SELECT count(*) AS n FROM jobs')).rows as [{ n: string }];
    const missing = count - Number(n);
    for (let done = 0; done < missing; done += 100_000) {
      await client.query(
        `INSERT INTO jobs (id, project_id, status, spec, last_seq, progress, created_at, finished_at, updated_at)
         SELECT gen_random_uuid(), project_id, 'succeeded', spec, 1, 1, now(), now(), now()
         FROM jobs, generate_series(1, $2) WHERE id = $1::uuid`,
        [templateId, Math.min(100_000, missing - done)],
      );
    }
    await client.query('ANALYZE jobs');
  } finally {
    await client.end();
  }
}

/**
 * The API's request rate against a bare Fastify server's on the same machine, 50 connections each:
 * POST /v1/jobs against an echo of the same body, GET /v1/jobs/{id} (a queued job: the costly
 * case) and GET /v1/jobs?limit=20 against answers of the same size. Interleaved, `repeats` rounds,
 * at each size of the jobs table.
 */
export async function benchApiThroughput(options: { sizes: number[]; repeats: number; seconds: number; connections: number }): Promise<ApiRow[]> {
  const base = loadConfig();
  const databaseUrl = new URL(base.DATABASE_URL);
  databaseUrl.pathname = '/trainyard_bench_api';
  const artifactDir = mkdtempSync(path.join(tmpdir(), 'trainyard-api-bench-'));
  const apiPort = 40_000 + Math.floor(Math.random() * 10_000);
  const echoPort = apiPort + 10_000;
  const env = {
    DATABASE_URL: databaseUrl.toString(),
    QUEUE_PREFIX: 'trainyard_bench_api',
    ARTIFACT_DIR: artifactDir,
    DATA_DIR: path.join(artifactDir, 'datasets'),
    LOG_LEVEL: 'warn',
    AUTH_MODE: 'required',
    RATE_LIMIT_MAX: '100000000',
    HOST: '127.0.0.1',
    PORT: String(apiPort),
  };
  await dropBenchState(env);
  // BENCH_CPU_PROFILE=<folder>: a V8 CPU profile of the API process, written when it exits.
  const profile = process.env.BENCH_CPU_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROFILE] : [];
  const api: ChildProcess = spawn(process.execPath, [...profile, '--import', 'tsx', 'workers/api.ts'], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForReady(`http://127.0.0.1:${apiPort}`);
  const services = await createServices(loadConfig({ ...process.env, ...env }), createLogger('warn', 'bench'));
  const echoReady = (child: ChildProcess) => once(child, 'message');
  let echo: ChildProcess | null = null;
  const rows: ApiRow[] = [];
  try {
    const { key } = await services.projects.createKey('bench', 'api-throughput');
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const created = await fetch(`${apiUrl}/v1/jobs`, { method: 'POST', headers, body: JSON.stringify(spec) });
    const job = (await created.json()) as { id: string };
    echo = fork(path.join(root, 'bench/echo-server.ts'), [String(echoPort)], { execArgv: ['--import', 'tsx'], env: { ...process.env, ECHO_BODY: JSON.stringify(job) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    await echoReady(echo);
    const echoUrl = `http://127.0.0.1:${echoPort}`;
    const body = JSON.stringify(spec);
    const endpoints = [
      { endpoint: 'POST /v1/jobs', api: { url: `${apiUrl}/v1/jobs`, method: 'POST' as const, body }, echo: { url: `${echoUrl}/echo`, method: 'POST' as const, body } },
      { endpoint: 'GET /v1/jobs/{id}', api: { url: `${apiUrl}/v1/jobs/${job.id}` }, echo: { url: `${echoUrl}/echo/${job.id}` } },
      { endpoint: 'GET /v1/jobs?limit=20', api: { url: `${apiUrl}/v1/jobs?limit=20` }, echo: { url: `${echoUrl}/echo` } },
    ];
    for (const size of options.sizes) {
      await growJobsTable(env.DATABASE_URL, job.id, size);
      const sized = endpoints.map((e) => ({ ...e, row: { jobs: size, endpoint: e.endpoint, apiRps: [], echoRps: [], apiP99Ms: [], echoP99Ms: [], apiCpuUs: [], non2xx: 0 } as ApiRow }));
      for (let round = 0; round < options.repeats; round++) {
        for (const { api: target, echo: yardstick, row } of sized) {
          const measured = await load(target.url, { ...target, headers, connections: options.connections, seconds: options.seconds, pid: api.pid });
          const reference = await load(yardstick.url, { ...yardstick, headers, connections: options.connections, seconds: options.seconds });
          row.apiRps.push(measured.rps);
          row.apiP99Ms.push(measured.p99);
          row.apiCpuUs.push(measured.cpuUs);
          row.echoRps.push(reference.rps);
          row.echoP99Ms.push(reference.p99);
          row.non2xx += measured.non2xx;
        }
      }
      rows.push(...sized.map((s) => s.row));
    }
  } finally {
    echo?.kill('SIGKILL');
    api.kill('SIGTERM');
    await once(api, 'exit');
    await services.close();
    await dropBenchState(env);
    rmSync(artifactDir, { recursive: true, force: true });
  }
  return rows;
}
