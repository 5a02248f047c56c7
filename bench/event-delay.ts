import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { loadConfig } from '../src/config/config.js';
import { createServices } from '../src/infra/services.js';
import { createLogger } from '../src/logging/logger.js';
import { dropBenchState, waitForReady } from './bench-api.js';
import { completeFeeds, SeqFeed, type SeqSummary } from './seq-feed.js';

export interface EventDelayRound {
  layout: ServiceLayout;
  subscribers: number;
  /** Subscribers (the observer included) that got every seq from 1 to the last, in order. */
  complete: number;
  events: number;
  /** The observer's delays, trainer emission → websocket receipt, for events emitted after every subscriber was connected. */
  delaysMs: number[];
  /** Emission → commit in PostgreSQL (createdAt − emittedAt), same events. */
  recordMs: number[];
  /** The trainer's last event → the observer receiving the job's final status event. */
  endMs: number;
  /** The trainer's first event → its last: how long training produced events. */
  trainingMs: number;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/** About 15 s of training on a quiet machine with a batch record every 2 steps: ~3 000 events. */
const spec = {
  name: 'bench: event delay',
  dataset: { name: 'iris' },
  model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 3 }] },
  epochs: 400,
  batchSize: 8,
  logEveryBatches: 2,
  checkpoint: { everyEpochs: 100, keep: 1 },
  seed: 1,
};

interface StreamedEvent {
  seq: number;
  type: string;
  data: { status?: string };
  createdAt: string;
  emittedAt: string;
}

/**
 * The delay from the training process emitting an event to a websocket subscriber receiving
 * it, through the whole service (IPC to the worker, the event writer's batched transaction,
 * Redis, the API's fan-out), with `subscribers` other clients following the same job.
 * A real Trainyard service (auth on) in a database of its own, one job per round, in each layout:
 * `one` is what `npm start` runs (API and worker in one process), `split` the API and the worker
 * as processes of their own (`npm run start:api` and `npm run start:worker`).
 */
export const serviceLayouts = ['one', 'split'] as const;
export type ServiceLayout = (typeof serviceLayouts)[number];

const layoutScripts: Record<ServiceLayout, string[]> = { one: ['workers/all-in-one.ts'], split: ['workers/api.ts', 'workers/training-worker.ts'] };

export async function benchEventDelay(options: { subscribers: number[]; repeats: number; layouts: ServiceLayout[] }): Promise<EventDelayRound[]> {
  const services: Awaited<ReturnType<typeof startService>>[] = [];
  const rounds: EventDelayRound[] = [];
  try {
    // Every layout's service is up for the whole run, so the rounds interleave; an idle one costs nothing.
    for (const layout of options.layouts) services.push(await startService(layout));
    for (let round = 0; round < options.repeats; round++) {
      for (const service of services) {
        for (const subscribers of options.subscribers) rounds.push({ ...(await oneJob(service.url, service.headers, subscribers)), layout: service.layout });
      }
    }
  } finally {
    for (const service of services) await service.stop();
  }
  return rounds;
}

async function startService(layout: ServiceLayout) {
  const base = loadConfig();
  const databaseUrl = new URL(base.DATABASE_URL);
  databaseUrl.pathname = `/trainyard_bench_events_${layout}`;
  const artifactDir = mkdtempSync(path.join(tmpdir(), 'trainyard-events-'));
  const port = await freePort();
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl.toString(),
    QUEUE_PREFIX: `trainyard_bench_events_${layout}`,
    ARTIFACT_DIR: artifactDir,
    DATA_DIR: path.join(artifactDir, 'datasets'),
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    AUTH_MODE: 'required',
    TRAINYARD_BACKEND: 'wasm',
    // 1 001 websockets from one address are the bench's load, not an attack.
    RATE_LIMIT_MAX: '100000000',
  };
  await dropBenchState(env);
  // BENCH_CPU_PROFILE=<folder>: V8 CPU profiles of the service's processes, written when they exit.
  const profile = process.env.BENCH_CPU_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROFILE] : [];
  const processes: ChildProcess[] = [];
  for (const script of layoutScripts[layout]) {
    processes.push(spawn(process.execPath, [...profile, '--import', 'tsx', script], { env, stdio: ['ignore', 'ignore', 'inherit'] }));
    // The API migrates the database: the worker starts once it answers.
    if (processes.length === 1) await waitForReady(`http://127.0.0.1:${port}`);
  }
  const url = `http://127.0.0.1:${port}`;
  const services = await createServices(loadConfig(env), createLogger('warn', 'bench'));
  const { key } = await services.projects.createKey('bench', 'event-delay');
  return {
    layout,
    url,
    headers: { authorization: `Bearer ${key}` },
    async stop() {
      await services.close();
      for (const child of processes.reverse()) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      await dropBenchState(env);
      rmSync(artifactDir, { recursive: true, force: true });
    },
  };
}


async function oneJob(url: string, headers: Record<string, string>, subscribers: number): Promise<Omit<EventDelayRound, 'layout'>> {
  const created = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  if (created.status !== 201) throw new Error(`POST /v1/jobs answered ${created.status}: ${await created.text()}`);
  const { id } = (await created.json()) as { id: string };
  // Paused until every subscriber is connected, so the whole run is measured live.
  await action(url, headers, id, 'pause');
  await waitForStatus(url, headers, id, 'paused');
  const streamUrl = `${url.replace(/^http/, 'ws')}/v1/jobs/${id}/stream?after=0`;

  let allConnectedAt = Number.POSITIVE_INFINITY;
  const delaysMs: number[] = [];
  const recordMs: number[] = [];
  let lastTrainingEmit = 0;
  let endReceived = 0;
  let firstTrainingEmit = 0;
  // The observer parses every message; the others (in a process of their own) only check the order of seqs.
  const observer = follow(streamUrl, headers, (event, received) => {
    const emitted = Date.parse(event.emittedAt);
    if (event.type !== 'status') {
      firstTrainingEmit ||= emitted;
      lastTrainingEmit = Math.max(lastTrainingEmit, emitted);
    } else if (['succeeded', 'failed', 'cancelled'].includes(event.data.status ?? '')) {
      endReceived = received;
    }
    if (emitted >= allConnectedAt) {
      delaysMs.push(received - emitted);
      recordMs.push(Date.parse(event.createdAt) - emitted);
    }
  });
  const others = followInChild(streamUrl, headers, subscribers);
  await Promise.all([observer.opened, others.opened]);
  allConnectedAt = Date.now();
  await action(url, headers, id, 'resume');
  const { events, complete } = completeFeeds([await observer.closed, ...(await others.closed)]);
  return {
    subscribers,
    complete,
    events,
    delaysMs,
    recordMs,
    endMs: endReceived - lastTrainingEmit,
    trainingMs: lastTrainingEmit - firstTrainingEmit,
  };
}

async function action(url: string, headers: Record<string, string>, id: string, name: 'pause' | 'resume'): Promise<void> {
  const response = await fetch(`${url}/v1/jobs/${id}/${name}`, { method: 'POST', headers });
  if (response.status >= 300) throw new Error(`POST /v1/jobs/${id}/${name} answered ${response.status}: ${await response.text()}`);
}

async function waitForStatus(url: string, headers: Record<string, string>, id: string, status: string): Promise<void> {
  for (;;) {
    const job = (await (await fetch(`${url}/v1/jobs/${id}`, { headers })).json()) as { status: string };
    if (job.status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `count` subscribers in a child process (bench/event-subscribers-child.ts); what each one received once all have closed. */
function followInChild(url: string, headers: Record<string, string>, count: number) {
  if (count === 0) return { opened: Promise.resolve(), closed: Promise.resolve([] as SeqSummary[]) };
  const child = fork(path.join(import.meta.dirname, 'event-subscribers-child.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // A clean exit may be seen before its last message is read: only a failure ends the wait.
  const exited = new Promise<never>((_, reject) =>
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`the subscribers' process exited with ${code}`));
    }),
  );
  const answer = <T>(key: string) =>
    Promise.race([
      new Promise<T>((resolve) => {
        const listener = (message: Record<string, unknown>) => {
          if (!(key in message)) return;
          child.off('message', listener);
          resolve(message[key] as T);
        };
        child.on('message', listener);
      }),
      exited,
    ]);
  const opened = answer<true>('opened');
  const closed = answer<SeqSummary[]>('feeds');
  child.send({ url, headers, count });
  return { opened, closed };
}

function follow(url: string, headers: Record<string, string>, onEvent: (event: StreamedEvent, received: number) => void) {
  const socket = new WebSocket(url, { headers });
  const feed = new SeqFeed();
  const opened = once(socket, 'open');
  const closed = new Promise<SeqSummary>((resolve, reject) => {
    socket.on('message', (raw) => {
      const received = Date.now();
      const message = JSON.parse(raw.toString()) as StreamedEvent & { kind: string };
      if (message.kind !== 'event') return;
      feed.push(message.seq);
      onEvent(message, received);
    });
    socket.on('close', () => resolve(feed.summary()));
    socket.on('error', reject);
  });
  return { opened, closed };
}
