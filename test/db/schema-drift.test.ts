import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropDatabase, ensureDatabase, maintenanceUrl } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrator.js';
import { diffDatabaseAgainstSchema, diffMigrationsAgainstSchema, isEmptyDiff } from '../../src/db/schema-drift.js';

// Proves that what prisma/migrations builds is what schema.prisma describes, with Prisma's own
// differ (the schema engine, as WebAssembly, since its native binary cannot be downloaded here).

const root = fileURLToPath(new URL('../../', import.meta.url));
const schemaPath = path.join(root, 'prisma', 'schema.prisma');
const migrationsDir = path.join(root, 'prisma', 'migrations');

// Set by test/support/global-setup.ts; databases named after the run id are dropped at teardown.
const serverUrl = maintenanceUrl(process.env.TEST_DATABASE_SERVER_URL!);
const databaseUrl = (() => {
  const url = new URL(serverUrl);
  url.pathname = `/${process.env.TRAINYARD_TEST_RUN}_drift`;
  return url.toString();
})();

const TIMEOUT_MS = 60_000;

async function onDatabase<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The diff, or '' when it holds only comments: on failure vitest then shows the SQL itself. */
function pending(sql: string): string {
  return isEmptyDiff(sql) ? '' : sql;
}

describe('schema drift between prisma/migrations and schema.prisma', () => {
  beforeAll(async () => {
    // The project's own start-up path: create the database, apply prisma/migrations.
    await ensureDatabase(databaseUrl);
    const { applied } = await migrate(databaseUrl, migrationsDir);
    expect(applied.length).toBeGreaterThan(0);
  }, TIMEOUT_MS);

  afterAll(async () => {
    await dropDatabase(databaseUrl);
  }, TIMEOUT_MS);

  it(
    'the migrated database needs no change to match schema.prisma',
    async () => {
      expect(pending(await diffDatabaseAgainstSchema(databaseUrl, schemaPath))).toBe('');
    },
    TIMEOUT_MS,
  );

  it(
    'replaying prisma/migrations in a shadow database gives schema.prisma too (the migration generator agrees)',
    async () => {
      expect(pending(await diffMigrationsAgainstSchema(migrationsDir, schemaPath, serverUrl))).toBe('');
    },
    TIMEOUT_MS,
  );

  it(
    'a schema change without its migration is reported as the SQL that is missing',
    async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'drift-probe-schema-'));
      try {
        const changed = path.join(dir, 'schema.prisma');
        const schema = await readFile(schemaPath, 'utf8');
        const withNote = schema.replace(/^model Job \{\n/m, (opening) => `${opening}  note String?\n`);
        expect(withNote).not.toBe(schema);
        await writeFile(changed, withNote);
        const sql = await diffMigrationsAgainstSchema(migrationsDir, changed, serverUrl);
        expect(sql).toMatch(/ALTER TABLE "jobs" ADD COLUMN\s+"note" TEXT;/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    TIMEOUT_MS,
  );

  // Runs last: it damages the database the first test checked.
  it(
    'a database that drifted from the schema is reported, naming what differs',
    async () => {
      await onDatabase(databaseUrl, async (client) => {
        await client.query('ALTER TABLE "jobs" DROP COLUMN "progress"');
        await client.query('DROP INDEX "job_events_job_id_seq_key"');
      });
      const sql = await diffDatabaseAgainstSchema(databaseUrl, schemaPath);
      expect(isEmptyDiff(sql)).toBe(false);
      expect(sql).toMatch(/ALTER TABLE "jobs" ADD COLUMN\s+"progress" DOUBLE PRECISION NOT NULL DEFAULT 0;/);
      expect(sql).toContain('CREATE UNIQUE INDEX "job_events_job_id_seq_key" ON "job_events"("job_id", "seq");');
    },
    TIMEOUT_MS,
  );
});
