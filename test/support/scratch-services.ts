import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './processes.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/**
 * A PostgreSQL or Redis server of a test's own, on a port of its own, that the test may stop and
 * start again at will (the shared 5432 and 6379 must never be touched). The URL stays the same
 * across restarts, so an app started against it sees the outage and the recovery as it would in
 * production.
 */
export interface ScratchService {
  /** postgresql://postgres@127.0.0.1:PORT/postgres, or redis://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** Whether the server is meant to be up (between start and stop). */
  readonly running: boolean;
  /**
   * Stops the server; resolves once it refuses connections. `fast` (the default) is a clean
   * shutdown that ends client sessions (PostgreSQL's `-m fast`, Redis's SIGTERM); `crash` kills it
   * (PostgreSQL's `-m immediate`, Redis's SIGKILL).
   */
  stop(mode?: 'fast' | 'crash'): Promise<void>;
  /** Starts it again on the same port, with what it kept (PostgreSQL keeps its data; this Redis keeps nothing). */
  start(): Promise<void>;
  restart(mode?: 'fast' | 'crash'): Promise<void>;
  /** Ends every client session without stopping the server (pg_terminate_backend, CLIENT KILL). */
  terminateSessions(): Promise<void>;
  /** Stops the server for good and removes its files. */
  dispose(): Promise<void>;
}

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user. */
async function asPostgresUser(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

async function accepts(port: number): Promise<boolean> {
  const socket = connect({ port, host: '127.0.0.1' });
  try {
    await once(socket, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

const started = new Set<() => void>();
// A test that fails before its afterAll must not leave servers behind.
process.once('exit', () => {
  for (const kill of started) kill();
});

const PG_PREFIX = 'trainyard-pg-';
const REDIS_PREFIX = 'trainyard-redis-';

/** A folder of this process's own for one server; `owner` names the process, so a later run can reap it. */
function serviceDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  writeFileSync(path.join(dir, 'owner'), String(process.pid));
  return dir;
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Servers left behind by a test process that died without its afterAll (killed on a timeout, say):
 * their owner is gone, so they are stopped and their folders removed. A live owner's are left alone.
 */
async function reapOrphans(prefix: string, stop: (dir: string) => Promise<void>): Promise<void> {
  for (const name of readdirSync(tmpdir()).filter((entry) => entry.startsWith(prefix))) {
    const dir = path.join(tmpdir(), name);
    let owner: number;
    try {
      owner = Number(readFileSync(path.join(dir, 'owner'), 'utf8'));
    } catch {
      continue; // Being set up by its owner right now.
    }
    if (!Number.isInteger(owner) || owner <= 0 || isAlive(owner)) continue;
    await stop(dir).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A fresh PostgreSQL cluster (trust auth, no fsync) in a temporary folder. */
export async function startPostgres(): Promise<ScratchService> {
  const user = await asPostgresUser();
  const pgCommand = (command: string, args: string[]) =>
    user ? run('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, command), ...args]) : run(path.join(PG_BIN, command), args);
  await reapOrphans(PG_PREFIX, async (orphan) => {
    if (existsSync(path.join(orphan, 'data', 'postmaster.pid'))) await pgCommand('pg_ctl', ['-D', path.join(orphan, 'data'), '-m', 'immediate', 'stop']);
  });
  const dir = serviceDir(PG_PREFIX);
  if (user) chownSync(dir, user.uid, user.gid);
  const data = path.join(dir, 'data');
  const port = await freePort();

  await pgCommand('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '--no-instructions']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  let running = false;
  const kill = () => {
    try {
      (user ? execFile('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop']) : execFile(path.join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop'])).unref();
    } catch {
      // Best effort at exit.
    }
  };

  const service: ScratchService = {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    port,
    get running() {
      return running;
    },
    async start() {
      if (running) return;
      await pgCommand('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'log'), '-w', '-t', '60', 'start']);
      running = true;
      started.add(kill);
    },
    async stop(mode = 'fast') {
      if (!running) return;
      running = false;
      await pgCommand('pg_ctl', ['-D', data, '-m', mode === 'crash' ? 'immediate' : 'fast', '-w', '-t', '60', 'stop']);
      started.delete(kill);
      await waitFor(`PostgreSQL on ${port} to refuse connections`, async () => !(await accepts(port)), 30_000);
    },
    async restart(mode = 'fast') {
      await service.stop(mode);
      await service.start();
    },
    async terminateSessions() {
      const client = new pg.Client({ connectionString: service.url });
      await client.connect();
      try {
        await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'");
      } finally {
        await client.end();
      }
    },
    async dispose() {
      if (running) await service.stop('crash').catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await service.start();
  return service;
}

export interface ScratchRedis extends ScratchService {
  /** Runs a command with redis-cli (e.g. `CLIENT PAUSE 5000 WRITE`: a Redis that hangs rather than refuses); its output. */
  command(...args: string[]): Promise<string>;
}

/** A Redis server without persistence, as a child process. */
export async function startRedis(): Promise<ScratchRedis> {
  await reapOrphans(REDIS_PREFIX, async (orphan) => {
    const pid = Number(readFileSync(path.join(orphan, 'server.pid'), 'utf8'));
    // Only the redis-server it started: a recycled pid belongs to someone else.
    if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('redis-server')) process.kill(pid, 'SIGKILL');
  });
  const dir = serviceDir(REDIS_PREFIX);
  const port = await freePort();
  let child: ChildProcess | null = null;
  let exited: Promise<unknown> = Promise.resolve();
  const kill = () => child?.kill('SIGKILL');

  const cli = (...args: string[]) => run('redis-cli', ['-p', String(port), ...args]);

  const service: ScratchRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    get running() {
      return child !== null;
    },
    async start() {
      if (child) return;
      const spawned = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      spawned.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      spawned.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child = spawned;
      writeFileSync(path.join(dir, 'server.pid'), String(spawned.pid));
      exited = once(spawned, 'exit');
      started.add(kill);
      await waitFor(`Redis on ${port} to answer`, async () => {
        if (spawned.exitCode !== null) throw new Error(`redis-server exited with ${spawned.exitCode}: ${output}`);
        return (await cli('ping').catch(() => ({ stdout: '' }))).stdout.trim() === 'PONG';
      }, 30_000);
    },
    async stop(mode = 'fast') {
      if (!child) return;
      child.kill(mode === 'crash' ? 'SIGKILL' : 'SIGTERM');
      await exited;
      child = null;
      started.delete(kill);
      await waitFor(`Redis on ${port} to refuse connections`, async () => !(await accepts(port)), 30_000);
    },
    async restart(mode = 'fast') {
      await service.stop(mode);
      await service.start();
    },
    async terminateSessions() {
      await cli('CLIENT', 'KILL', 'TYPE', 'normal');
      await cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
    },
    async command(...args) {
      return (await cli(...args)).stdout.trim();
    },
    async dispose() {
      await service.stop('crash');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await service.start();
  return service;
}
