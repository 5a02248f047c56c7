import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { buildApp } from '../src/api/app.js';
import { loadConfig, type Config } from '../src/config/config.js';
import { dropDatabase } from '../src/db/database.js';
import { deleteKeysMatching } from '../src/queue/delete-keys.js';
import { createServices, type Services } from '../src/infra/services.js';
import { createLogger } from '../src/logging/logger.js';

export interface BenchApi {
  config: Config;
  services: Services;
  /** http://127.0.0.1:PORT */
  address: string;
  /** A fresh API key of the project `bench` (auth is on, as in production). */
  key: string;
  /** The key as an authorization header. */
  headers: Record<string, string>;
  /** Closes the API and the services, drops the database and the artifacts. */
  close(): Promise<void>;
}

/**
 * The API on a database `trainyard_bench_<name>`, a queue prefix and an artifact and upload folder of its own,
 * with auth on: a bench runs beside a live deployment on the same PostgreSQL and Redis.
 */
export async function startBenchApi(name: string, env: Record<string, string> = {}): Promise<BenchApi> {
  const databaseUrl = new URL(loadConfig().DATABASE_URL);
  databaseUrl.pathname = `/trainyard_bench_${name}`;
  const artifactDir = mkdtempSync(path.join(tmpdir(), `trainyard-bench-${name}-`));
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: databaseUrl.toString(),
    QUEUE_PREFIX: `trainyard_bench_${name}`,
    ARTIFACT_DIR: artifactDir,
    // Uploads too: the default folder is the live deployment's, and close() would leave them there.
    DATA_DIR: path.join(artifactDir, 'datasets'),
    LOG_LEVEL: 'warn',
    AUTH_MODE: 'required',
    ...env,
  });
  await dropBenchState(config);
  const services = await createServices(config, createLogger(config.LOG_LEVEL, 'bench'));
  const app = await buildApp(services);
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const { key } = await services.projects.createKey('bench', name);
  return {
    config,
    services,
    address,
    key,
    headers: { authorization: `Bearer ${key}` },
    close: async () => {
      await app.close();
      await services.close();
      await dropBenchState(config);
      rmSync(artifactDir, { recursive: true, force: true });
    },
  };
}

/**
 * What a bench's service leaves in the shared PostgreSQL and Redis: its database and every key
 * under its queue prefix (a POST bench alone queues tens of thousands of jobs). Dropped before
 * a bench starts and after it ends.
 */
export async function dropBenchState(env: { DATABASE_URL: string; QUEUE_PREFIX: string; REDIS_URL?: string }): Promise<void> {
  await dropDatabase(env.DATABASE_URL);
  const redis = new Redis(env.REDIS_URL ?? loadConfig().REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    await deleteKeysMatching(redis, `${env.QUEUE_PREFIX}:*`);
  } finally {
    redis.disconnect();
  }
}

/** Waits for a service's `/readyz` (at `baseUrl`) to answer 2xx: a bench's spawned API. */
export async function waitForReady(baseUrl: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fetch(`${baseUrl}/readyz`).then((response) => response.ok, () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${baseUrl} did not become ready within ${timeoutMs / 1000} s`);
}
