import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { buildApp } from '../src/api/app.js';
import { loadConfig } from '../src/config/config.js';
import { dropDatabase } from '../src/db/database.js';
import { createServices } from '../src/infra/services.js';
import { createLogger } from '../src/logging/logger.js';
import type { JobSpecInput } from '../src/spec/job-spec.js';
import { createTrainingWorker } from '../src/worker/training-worker.js';

export interface LatencyResult {
  workerStartMs: number;
  runs: { startedMs: number; firstStepMs: number }[];
}

const spec: JobSpecInput = {
  name: 'bench: submit latency',
  dataset: { name: 'mnist' },
  model: { layers: [{ type: 'dense', units: 256, activation: 'relu' }, { type: 'dense', units: 256, activation: 'relu' }, { type: 'dense', units: 10 }] },
  epochs: 1,
  batchSize: 128,
  logEveryBatches: 1,
  seed: 1,
};

/**
 * POST /v1/jobs → first training step, measured through the real stack (HTTP, PostgreSQL, BullMQ,
 * the training process, websocket) in a database and queue prefix of its own. The first run of a
 * fresh worker also loads MNIST; later runs find it cached.
 */
export async function benchSubmitLatency(runs: number): Promise<LatencyResult> {
  const base = loadConfig();
  const databaseUrl = new URL(base.DATABASE_URL);
  databaseUrl.pathname = '/trainyard_bench';
  const artifactDir = mkdtempSync(path.join(tmpdir(), 'trainyard-bench-'));
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: databaseUrl.toString(),
    QUEUE_PREFIX: 'trainyard_bench',
    ARTIFACT_DIR: artifactDir,
    LOG_LEVEL: 'warn',
    TRAINYARD_BACKEND: 'wasm',
    AUTH_MODE: 'required',
  });
  await dropDatabase(config.DATABASE_URL);
  const logger = createLogger(config.LOG_LEVEL, 'bench');
  const services = await createServices(config, logger);
  const app = await buildApp(services);
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const worker = createTrainingWorker(services);
  const workerStart = performance.now();
  await worker.start();
  const workerStartMs = performance.now() - workerStart;
  const results: LatencyResult['runs'] = [];
  try {
    const { key } = await services.projects.createKey('bench', 'submit-latency');
    for (let i = 0; i < runs; i++) results.push(await oneRun(address, { authorization: `Bearer ${key}` }));
  } finally {
    await app.close();
    await worker.close();
    await services.close();
    await dropDatabase(config.DATABASE_URL);
    rmSync(artifactDir, { recursive: true, force: true });
  }
  return { workerStartMs, runs: results };
}

async function oneRun(address: string, headers: Record<string, string>): Promise<{ startedMs: number; firstStepMs: number }> {
  const t0 = performance.now();
  const response = await fetch(`${address}/v1/jobs`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  if (response.status !== 201) throw new Error(`POST /v1/jobs answered ${response.status}: ${await response.text()}`);
  const { id } = (await response.json()) as { id: string };
  const socket = new WebSocket(`${address.replace(/^http/, 'ws')}/v1/jobs/${id}/stream`, { headers });
  let startedMs = NaN;
  let firstStepMs = NaN;
  await new Promise<void>((resolve, reject) => {
    socket.on('message', (raw) => {
      const event = JSON.parse(raw.toString()) as { type: string; data: { scope?: string } };
      if (event.type === 'started' && Number.isNaN(startedMs)) startedMs = performance.now() - t0;
      if (event.type === 'metrics' && event.data.scope === 'batch' && Number.isNaN(firstStepMs)) firstStepMs = performance.now() - t0;
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
  return { startedMs, firstStepMs };
}
