/**
 * Operators' command for projects and API keys, run where the API runs (it talks to PostgreSQL
 * directly, so it works before any key exists):
 *   npm run keys -- create [--project default] [--name NAME]   prints a new key, once
 *   npm run keys -- list [--project P]
 *   npm run keys -- revoke <key id>
 *   npm run keys -- limit <project> <N|default>                 jobs the project may train at once
 * The same operations are on the API under /v1/admin (with ADMIN_TOKEN).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.js';
import { ensureDatabase } from '../db/database.js';
import { migrate } from '../db/migrator.js';
import { createPrisma } from '../db/prisma.js';
import { checkPostgres } from '../infra/dependency-check.js';
import { announceKeyRevocation } from '../projects/key-revocations.js';
import { ProjectService } from '../projects/project-service.js';
import { Redis } from 'ioredis';

const usage = `usage: npm run keys -- create [--project NAME] [--name NAME] | list [--project NAME] | revoke <id> | limit <project> <N|default>`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { project: { type: 'string' }, name: { type: 'string' } },
});
const [command, first, second] = positionals;
const config = loadConfig();

async function main(projects: ProjectService): Promise<number> {
  switch (command) {
    case 'create': {
      const { key, record } = await projects.createKey(values.project ?? 'default', values.name ?? 'key');
      // The key alone on stdout, so `KEY=$(npm run -s keys -- create)` works; the rest to stderr.
      process.stderr.write(`API key ${record.id} "${record.name}" for project ${record.project}; it is shown only now:\n`);
      process.stdout.write(`${key}\n`);
      return 0;
    }
    case 'list':
      for (const key of await projects.listKeys(values.project)) {
        process.stdout.write(`${key.id}  ${key.project}  ${key.prefix}…  ${key.name}  ${key.revokedAt ? `revoked ${key.revokedAt}` : `last used ${key.lastUsedAt ?? 'never'}`}\n`);
      }
      return 0;
    case 'revoke': {
      if (!first) break;
      const key = await projects.revokeKey(first);
      process.stdout.write(`revoked ${key.id} (${key.prefix}…, project ${key.project})\n`);
      return 0;
    }
    case 'limit': {
      if (!first || !second || !(second === 'default' || /^[1-9]\d*$/.test(second))) break;
      const project = await projects.setMaxRunningJobs(first, second === 'default' ? null : Number(second));
      process.stdout.write(`project ${project.name}: ${project.maxRunningJobs ?? `${config.PROJECT_MAX_RUNNING_JOBS} (the default)`} jobs at once\n`);
      return 0;
    }
  }
  process.stderr.write(`${usage}\n`);
  return 2;
}

await checkPostgres(config.DATABASE_URL);
await ensureDatabase(config.DATABASE_URL);
await migrate(config.DATABASE_URL);
const prisma = createPrisma(config.DATABASE_URL);
// API processes cache keys: a revocation is announced to them over Redis.
const redis = command === 'revoke' ? new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true }) : null;
const announceRevocation = async (hash: string) => {
  try {
    await redis!.connect();
    await announceKeyRevocation(redis!, config.QUEUE_PREFIX, hash);
  } catch (error) {
    process.stderr.write(`keys: Redis did not answer (${(error as Error).message}): running APIs accept the key for up to ${config.KEY_CACHE_TTL_MS} ms more\n`);
  }
};
try {
  process.exitCode = await main(new ProjectService(prisma, { announceRevocation }));
} catch (error) {
  process.stderr.write(`keys: ${(error as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await prisma.$disconnect();
  redis?.disconnect();
}
