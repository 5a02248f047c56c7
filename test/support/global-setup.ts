import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { maintenanceUrl } from '../../src/db/database.js';
import { checkPostgres, checkRedis } from '../../src/infra/dependency-check.js';
import { deleteKeysMatching } from '../../src/queue/delete-keys.js';

const serverUrl = process.env.TEST_DATABASE_SERVER_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * One run id for the whole test run: each test file gets its own database and queue prefix
 * under it (test/support/harness.ts), and teardown removes everything carrying it.
 */
export default async function setup(): Promise<() => Promise<void>> {
  await checkPostgres(serverUrl);
  await checkRedis(redisUrl);
  const runId = `ty_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  process.env.TRAINYARD_TEST_RUN = runId;
  process.env.TEST_DATABASE_SERVER_URL = serverUrl;
  process.env.REDIS_URL = redisUrl;
  process.env.LOG_LEVEL ??= 'warn';

  return async () => {
    const client = new pg.Client({ connectionString: maintenanceUrl(serverUrl) });
    await client.connect();
    try {
      const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${runId}%`]);
      for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    } finally {
      await client.end();
    }
    const redis = new Redis(redisUrl);
    try {
      await deleteKeysMatching(redis, `${runId}*`);
    } finally {
      redis.disconnect();
    }
  };
}
