// Creates the database named by DATABASE_URL if it is missing and applies prisma/migrations.
import { loadConfig } from '../src/config/config.js';
import { ensureDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrator.js';
import { checkPostgres } from '../src/infra/dependency-check.js';

const config = loadConfig();
try {
  await checkPostgres(config.DATABASE_URL);
  const created = await ensureDatabase(config.DATABASE_URL);
  const result = await migrate(config.DATABASE_URL);
  const target = new URL(config.DATABASE_URL);
  console.log(
    `${target.host}${target.pathname}: ${created ? 'created, ' : ''}${result.applied.length} applied` +
      `${result.applied.length ? ` (${result.applied.join(', ')})` : ''}, ${result.alreadyApplied.length} already applied`,
  );
} catch (error) {
  console.error(`migrate: ${(error as Error).message}`);
  process.exit(1);
}
