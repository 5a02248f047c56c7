import WebSocket from 'ws';
import { startBenchApi } from './bench-api.js';
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
  const bench = await startBenchApi('submit', { TRAINYARD_BACKEND: 'wasm' });
  const worker = createTrainingWorker(bench.services);
  const workerStart = performance.now();
  await worker.start();
  const workerStartMs = performance.now() - workerStart;
  const results: LatencyResult['runs'] = [];
  try {
    for (let i = 0; i < runs; i++) results.push(await oneRun(bench.address, bench.headers));
  } finally {
    await worker.close();
    await bench.close();
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
