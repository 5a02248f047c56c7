import { buildApp } from '../api/app.js';
import { ConfigError, type Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { createTrainingWorker } from '../worker/training-worker.js';
import type { RunningRole } from './run-process.js';
import { createServices } from './services.js';

export interface RoleOptions {
  api: boolean;
  worker: boolean;
}

/** Starts the API, a training worker, or both in one process (the README's quick start). */
export async function startRoles(config: Config, logger: Logger, options: RoleOptions): Promise<RunningRole> {
  const services = await createServices(config, logger);
  const worker = options.worker ? createTrainingWorker(services) : null;
  const app = options.api ? await buildApp(services) : null;
  // Every API and worker process can decide for studies; a lease makes one of them do it at a time.
  const scheduler = config.STUDY_SCHEDULER ? services.newStudyScheduler() : null;
  try {
    await worker?.start();
    scheduler?.start();
    if (app) {
      const address = await app.listen({ port: config.PORT, host: config.HOST }).catch((error: unknown) => {
        if ((error as { code?: string }).code !== 'EADDRINUSE') throw error;
        throw new ConfigError(`port ${config.PORT} on ${config.HOST} is already in use (EADDRINUSE): stop what listens there, or set PORT to a free port`);
      });
      logger.info(`Trainyard API listening on ${address} (dashboard /, API docs /docs)`);
    }
  } catch (error) {
    await Promise.allSettled([app?.close(), worker?.close(), scheduler?.close()]);
    await services.close();
    throw error;
  }
  return {
    async stop() {
      await scheduler?.close();
      await app?.close();
      await worker?.close();
      await services.close();
    },
  };
}
