import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { buildApp } from '../../src/api/app.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createLogger } from '../../src/logging/logger.js';
import { createServices, type Services } from '../../src/infra/services.js';
import { createTrainingWorker, type TrainingWorker } from '../../src/worker/training-worker.js';
import type { StudyScheduler } from '../../src/studies/study-scheduler.js';
import { ContractCheck } from './contract-check.js';

export interface Harness {
  config: Config;
  services: Services;
  app: FastifyInstance;
  /** http://127.0.0.1:PORT of the listening app. */
  baseUrl: string;
  /** A worker on this harness's services; `config` overrides settings of this worker only (WORKER_DEVICE, WORKER_CONCURRENCY…). */
  startWorker(config?: Partial<Config>): Promise<TrainingWorker>;
  /** A study scheduler on this harness's services (its own owner id), polling every `intervalMs`. */
  startScheduler(options?: { intervalMs?: number; leaseMs?: number }): StudyScheduler;
  /** A new API key of the project (created if needed), as the header to send. */
  apiKey(project: string): Promise<{ authorization: string; key: string }>;
  /** Every response the app sent that did not match openapi/openapi.json (close() fails on any). */
  contract: ContractCheck;
  close(): Promise<void>;
}

/**
 * The real app on the real PostgreSQL and Redis, in a database and queue prefix of its own, so
 * test files running in parallel never see each other's jobs.
 */
export async function startHarness(name: string, env: Record<string, string> = {}, options: { logDestination?: DestinationStream } = {}): Promise<Harness> {
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
    // Most files test other things than auth and limits: they act as the default project, unthrottled.
    // test/api/auth.test.ts and test/api/limits.test.ts turn both on.
    AUTH_MODE: 'off',
    RATE_LIMIT_MAX: '1000000',
    FAILURE_LIMIT_MAX: '1000000',
    RESPONSE_CHECKS: 'true',
    ...env,
  });
  const logger = createLogger(config.LOG_LEVEL, `test:${name}`, options.logDestination);
  const services = await createServices(config, logger);
  const app = await buildApp(services);
  // Every answer of every API test is checked against the committed document: drift fails the file.
  const contract = new ContractCheck();
  contract.install(app);
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const workers: TrainingWorker[] = [];
  const schedulers: StudyScheduler[] = [];

  return {
    config,
    services,
    app,
    baseUrl: address,
    contract,
    async startWorker(overrides = {}) {
      const worker = createTrainingWorker({ ...services, config: { ...services.config, ...overrides } });
      await worker.start();
      workers.push(worker);
      return worker;
    },
    startScheduler(options = {}) {
      const scheduler = services.newStudyScheduler({ intervalMs: options.intervalMs ?? 100, leaseMs: options.leaseMs ?? 2_000 });
      scheduler.start();
      schedulers.push(scheduler);
      return scheduler;
    },
    async apiKey(project) {
      const { key } = await services.projects.createKey(project, 'test');
      return { authorization: `Bearer ${key}`, key };
    },
    async close() {
      await Promise.all(schedulers.map((scheduler) => scheduler.close()));
      await app.close();
      await Promise.all(workers.map((worker) => worker.close()));
      await services.close();
      rmSync(artifactDir, { recursive: true, force: true });
      contract.assertClean();
    },
  };
}
