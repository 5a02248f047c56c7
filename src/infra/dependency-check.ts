import { Redis } from 'ioredis';
import pg from 'pg';
import { maintenanceUrl } from '../db/database.js';

/** A dependency that is not there, described in one line that says what to start. */
export class DependencyUnavailableError extends Error {
  override name = 'DependencyUnavailableError';
}

function describe(error: unknown): string {
  const err = error as { code?: string; message?: string };
  return err.code ?? err.message ?? String(error);
}

function hostOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || (parsed.protocol.startsWith('redis') ? '6379' : '5432')}`;
}

export async function checkPostgres(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: maintenanceUrl(databaseUrl), connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new DependencyUnavailableError(
      `PostgreSQL is not reachable at ${hostOf(databaseUrl)} (${describe(error)}): start it with ` +
        "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or point DATABASE_URL at a running server",
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function checkRedis(redisUrl: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3_000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new DependencyUnavailableError(
      `Redis is not reachable at ${hostOf(redisUrl)} (${describe(error)}): start it with ` +
        '`redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no`, or point REDIS_URL at a running server',
    );
  } finally {
    redis.disconnect();
  }
}
