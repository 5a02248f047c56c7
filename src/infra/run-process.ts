import { ConfigError, loadConfig, type Config } from '../config/config.js';
import { MigrationError } from '../db/migrator.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { DependencyUnavailableError } from './dependency-check.js';

export interface RunningRole {
  /** Stops taking work, finishes or hands back what is in flight, closes connections. */
  stop(): Promise<void>;
}

/**
 * Starts one process role with the shared conventions: validated config, one readable line (not
 * a stack trace) when a dependency is missing, and a bounded graceful shutdown on SIGTERM/SIGINT.
 */
export async function runProcess(name: string, start: (config: Config, logger: Logger) => Promise<RunningRole>): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    process.stderr.write(`trainyard ${name}: ${(error as Error).message}\n`);
    process.exit(1);
  }
  const logger = createLogger(config.LOG_LEVEL, name);

  let role: RunningRole;
  try {
    role = await start(config, logger);
  } catch (error) {
    if (error instanceof DependencyUnavailableError || error instanceof ConfigError || error instanceof MigrationError) {
      process.stderr.write(`trainyard ${name}: ${error.message}\n`);
    } else {
      logger.fatal({ err: error }, 'start-up failed');
    }
    process.exit(1);
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('graceful shutdown timed out; exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    role.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
