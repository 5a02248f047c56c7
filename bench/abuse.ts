import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/config.js';
import { createServices } from '../src/infra/services.js';
import { createLogger } from '../src/logging/logger.js';
import { dropBenchState, waitForReady } from './bench-api.js';

const root = fileURLToPath(new URL('../', import.meta.url));
export const abuses = ['wide-csv', 'huge-errors', 'slow-sockets', 'key-guessing'] as const;
type Phase = 'none' | (typeof abuses)[number];

export interface AbuseRow {
  phase: Phase;
  /** p99 of the well-behaved client's GETs, one value per repeat. */
  p99Ms: number[];
  p50Ms: number[];
  requests: number;
  errors: number;
}

function spawnNode(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** One GET per `everyMs` for `durationMs`, on a kept-alive connection, as a dashboard polls. */
async function politeClient(baseUrl: string, pathname: string, key: string, durationMs: number, everyMs: number): Promise<{ latencies: number[]; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    const started = performance.now();
    const status = await new Promise<number>((resolve) => {
      const request = http.get(`${baseUrl}${pathname}`, { agent, headers: { authorization: `Bearer ${key}` } }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
      request.on('error', () => resolve(0));
    });
    const took = performance.now() - started;
    latencies.push(took);
    if (status !== 200) errors += 1;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, everyMs - took)));
  }
  agent.destroy();
  return { latencies, errors };
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/**
 * A well-behaved client's latency (GET /v1/jobs/{id} every 20 ms) while one abusive client, in its
 * own process and from another address, does each of the reported attacks; phases interleaved,
 * `repeats` rounds. The API runs as its own process on a database of its own.
 */
export async function benchAbuse(options: { repeats: number; phaseMs: number }): Promise<AbuseRow[]> {
  const base = loadConfig();
  const databaseUrl = new URL(base.DATABASE_URL);
  databaseUrl.pathname = '/trainyard_bench_abuse';
  const artifactDir = mkdtempSync(path.join(tmpdir(), 'trainyard-abuse-'));
  const env = {
    DATABASE_URL: databaseUrl.toString(),
    QUEUE_PREFIX: 'trainyard_bench_abuse',
    ARTIFACT_DIR: artifactDir,
    DATA_DIR: path.join(artifactDir, 'datasets'),
    LOG_LEVEL: 'warn',
    AUTH_MODE: 'required',
    RATE_LIMIT_MAX: '1000000',
    HOST: '127.0.0.1',
    PORT: String(40_000 + Math.floor(Math.random() * 20_000)),
  };
  await dropBenchState(env);
  const api = spawnNode(['workers/api.ts'], env);
  const baseUrl = `http://127.0.0.1:${env.PORT}`;
  const services = await waitForReady(baseUrl).then(() => createServices(loadConfig({ ...process.env, ...env }), createLogger('warn', 'bench')));
  const rows = new Map<Phase, AbuseRow>();
  try {
    const { key } = await services.projects.createKey('bench', 'polite');
    const { key: abuserKey } = await services.projects.createKey('abuser', 'abusive');
    const created = await fetch(`${baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ dataset: { name: 'iris' }, model: { layers: [{ type: 'dense', units: 3 }] }, epochs: 1 }),
    });
    const { id } = (await created.json()) as { id: string };
    const phases: Phase[] = ['none', ...abuses];
    for (let round = 0; round < options.repeats; round++) {
      for (const phase of phases) {
        const abuser = phase === 'none' ? null : spawnNode(['bench/abuse-client.ts', phase, baseUrl, abuserKey], {});
        // Let the abuse reach its stride before measuring.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const { latencies, errors } = await politeClient(baseUrl, `/v1/jobs/${id}`, key, options.phaseMs, 20);
        if (abuser) {
          abuser.kill('SIGKILL');
          await once(abuser, 'exit');
        }
        const sorted = [...latencies].sort((x, y) => x - y);
        const row = rows.get(phase) ?? { phase, p99Ms: [], p50Ms: [], requests: 0, errors: 0 };
        row.p99Ms.push(quantile(sorted, 0.99));
        row.p50Ms.push(quantile(sorted, 0.5));
        row.requests += latencies.length;
        row.errors += errors;
        rows.set(phase, row);
      }
    }
  } finally {
    api.kill('SIGTERM');
    await once(api, 'exit');
    await services.close();
    await dropBenchState(env);
    rmSync(artifactDir, { recursive: true, force: true });
  }
  return [...rows.values()];
}

