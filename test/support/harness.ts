import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createLogger } from '../../src/logging/logger.js';
import { createServices, type Services } from '../../src/infra/services.js';
import { createTrainingWorker, type TrainingWorker } from '../../src/worker/training-worker.js';

export interface Harness {
  config: Config;
  services: Services;
  app: FastifyInstance;
  /** http://127.0.0.1:PORT of the listening app. */
  baseUrl: string;
  startWorker(): Promise<TrainingWorker>;
  close(): Promise<void>;
}

/**
 * The real app on the real PostgreSQL and Redis, in a database and queue prefix of its own, so
 * test files running in parallel never see each other's jobs.
 */
export async function startHarness(name: string, env: Record<string, string> = {}): Promise<Harness> {
  const runId = process.env.TRAINYARD_TEST_RUN;
  const serverUrl = process.env.TEST_DATABASE_SERVER_URL;
  if (!runId || !serverUrl) throw new Error('run the tests through vitest (test/support/global-setup.ts sets the run id)');
  const isolated = `${runId}_${name}_${randomBytes(2).toString('hex')}`;
  const databaseUrl = new URL(serverUrl);
  databaseUrl.pathname = `/${isolated}`;
  const artifactDir = mkdtempSync(path.join(tmpdir(), `trainyard-${name}-`));
  const config = loadConfig({
    ...process.env,
    ARTIFACT_DIR: artifactDir,
    DATA_DIR: path.join(artifactDir, 'datasets'),
    DATABASE_URL: databaseUrl.toString(),
    QUEUE_PREFIX: isolated,
    PORT: '0',
    HOST: '127.0.0.1',
    ...env,
  });
  const logger = createLogger(config.LOG_LEVEL, `test:${name}`);
  const services = await createServices(config, logger);
  const app = await buildApp(services);
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const workers: TrainingWorker[] = [];

  return {
    config,
    services,
    app,
    baseUrl: address,
    async startWorker() {
      const worker = createTrainingWorker(services);
      await worker.start();
      workers.push(worker);
      return worker;
    },
    async close() {
      await app.close();
      await Promise.all(workers.map((worker) => worker.close()));
      await services.close();
      rmSync(artifactDir, { recursive: true, force: true });
    },
  };
}
