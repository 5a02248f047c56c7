import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import { loadConfig } from '../src/config/config.js';
import { dropDatabase } from '../src/db/database.js';

export interface FanoutResult {
  clients: number;
  complete: number;
  eventsPerClient: number;
  liveSamples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/**
 * N websocket clients follow one running job, served by a real Trainyard process (API + worker).
 * Delay = when a client received an event − when the worker's transaction stamped it
 * (created_at), for events recorded after every client was connected. Every client must see
 * every seq from 1 to the last, in order.
 */
export async function benchStreamFanout(clients: number): Promise<FanoutResult> {
  const base = loadConfig();
  const databaseUrl = new URL(base.DATABASE_URL);
  databaseUrl.pathname = '/trainyard_bench_fanout';
  const artifactDir = mkdtempSync(path.join(tmpdir(), 'trainyard-fanout-'));
  const port = await freePort();
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl.toString(),
    QUEUE_PREFIX: 'trainyard_bench_fanout',
    ARTIFACT_DIR: artifactDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    TRAINYARD_BACKEND: 'wasm',
  };
  await dropDatabase(env.DATABASE_URL);
  const server = spawn(process.execPath, ['--import', 'tsx', 'workers/all-in-one.ts'], { env, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      if ((await fetch(`${url}/readyz`).then((r) => r.status, () => 0)) === 200) break;
      if (i > 300) throw new Error('the service did not become ready');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // About 15 s of training with a batch record every 2 steps: a steady stream of events.
    const spec = {
      name: 'bench: stream fan-out',
      dataset: { name: 'iris' },
      model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 3 }] },
      epochs: 400,
      batchSize: 8,
      logEveryBatches: 2,
      checkpoint: { everyEpochs: 400, keep: 1 },
      seed: 1,
    };
    const created = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
    const { id } = (await created.json()) as { id: string };

    const delays: number[] = [];
    let allConnectedAt = Number.POSITIVE_INFINITY;
    const runs = Array.from({ length: clients }, () => {
      const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/jobs/${id}/stream?after=0`);
      const seqs: number[] = [];
      const opened = once(socket, 'open');
      const closed = new Promise<number[]>((resolve, reject) => {
        socket.on('message', (raw) => {
          const received = Date.now();
          const message = JSON.parse(raw.toString()) as { kind: string; seq: number; createdAt: string };
          if (message.kind !== 'event') return;
          seqs.push(message.seq);
          const created = Date.parse(message.createdAt);
          if (created >= allConnectedAt) delays.push(received - created);
        });
        socket.on('close', () => resolve(seqs));
        socket.on('error', reject);
      });
      return { opened, closed };
    });
    await Promise.all(runs.map((run) => run.opened));
    allConnectedAt = Date.now();
    const results = await Promise.all(runs.map((run) => run.closed));
    const lastSeq = Math.max(...results.map((seqs) => seqs.at(-1) ?? 0));
    const complete = results.filter((seqs) => seqs.length === lastSeq && seqs.every((seq, i) => seq === i + 1)).length;
    delays.sort((a, b) => a - b);
    return {
      clients,
      complete,
      eventsPerClient: lastSeq,
      liveSamples: delays.length,
      p50Ms: percentile(delays, 50),
      p99Ms: percentile(delays, 99),
      maxMs: delays.at(-1) ?? NaN,
    };
  } finally {
    server.kill('SIGTERM');
    await once(server, 'exit');
    await dropDatabase(env.DATABASE_URL);
    rmSync(artifactDir, { recursive: true, force: true });
  }
}
