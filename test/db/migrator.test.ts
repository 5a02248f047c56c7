import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropDatabase, ensureDatabase } from '../../src/db/database.js';
import { checksumOf, migrate, readMigrations } from '../../src/db/migrator.js';

const serverUrl = process.env.TEST_DATABASE_SERVER_URL!;
const dbUrl = (suffix: string): string => {
  const url = new URL(serverUrl);
  url.pathname = `/${process.env.TRAINYARD_TEST_RUN}_migrator_${suffix}`;
  return url.toString();
};

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'trainyard-migrations-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function writeMigration(dir: string, name: string, sql: string): Promise<void> {
  await mkdir(path.join(dir, name), { recursive: true });
  await writeFile(path.join(dir, name, 'migration.sql'), sql);
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('migrator', () => {
  it('creates the database, applies the project migrations once, and records them as Prisma does', async () => {
    const url = dbUrl('project');
    expect(await ensureDatabase(url)).toBe(true);
    expect(await ensureDatabase(url)).toBe(false);
    const first = await migrate(url);
    const names = (await readMigrations()).map((m) => m.name);
    expect(first).toEqual({ applied: names, alreadyApplied: [] });
    expect(await migrate(url)).toEqual({ applied: [], alreadyApplied: names });

    const rows = await query<{ migration_name: string; checksum: string }>(url, 'SELECT migration_name, checksum FROM "_prisma_migrations" ORDER BY migration_name');
    const onDisk = await readMigrations();
    expect(rows).toEqual(onDisk.map((m) => ({ migration_name: m.name, checksum: m.checksum })));
    const tables = await query<{ table_name: string }>(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
    expect(tables.map((t) => t.table_name)).toEqual(['_prisma_migrations', 'api_keys', 'checkpoints', 'datasets', 'idempotency_keys', 'job_events', 'jobs', 'metrics', 'projects', 'studies', 'study_events', 'trials']);
    await dropDatabase(url);
  });

  it('runs concurrent migrators safely: each migration is applied exactly once', async () => {
    const url = dbUrl('race');
    await Promise.all([ensureDatabase(url), ensureDatabase(url)]);
    const results = await Promise.all([migrate(url), migrate(url), migrate(url)]);
    expect(results.flatMap((r) => r.applied).sort()).toEqual((await readMigrations()).map((m) => m.name));
    await dropDatabase(url);
  });

  it('refuses a migration edited after it was applied, and one the checkout does not know', async () => {
    const url = dbUrl('tamper');
    const dir = path.join(scratch, 'tamper');
    await ensureDatabase(url);
    await writeMigration(dir, '001_a', 'CREATE TABLE a (id int);');
    await migrate(url, dir);
    await writeMigration(dir, '001_a', 'CREATE TABLE a (id bigint);');
    await expect(migrate(url, dir)).rejects.toThrow(/001_a was edited after it was applied/);

    await writeMigration(dir, '001_a', 'CREATE TABLE a (id int);');
    await rm(path.join(dir, '001_a'), { recursive: true });
    await expect(migrate(url, dir)).rejects.toThrow(/does not contain \(001_a\)/);
    await dropDatabase(url);
  });

  it('leaves nothing behind when a migration fails halfway', async () => {
    const url = dbUrl('broken');
    const dir = path.join(scratch, 'broken');
    await ensureDatabase(url);
    await writeMigration(dir, '001_ok', 'CREATE TABLE ok (id int);');
    await writeMigration(dir, '002_broken', 'CREATE TABLE half (id int);\nALTER TABLE nope ADD COLUMN x int;');
    await expect(migrate(url, dir)).rejects.toThrow(/002_broken failed: .*nope/);
    const tables = await query<{ table_name: string }>(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
    expect(tables.map((t) => t.table_name)).toEqual(['_prisma_migrations', 'ok']);
    const applied = await query<{ migration_name: string }>(url, 'SELECT migration_name FROM "_prisma_migrations"');
    expect(applied).toEqual([{ migration_name: '001_ok' }]);
    await dropDatabase(url);
  });

  it('uses the sha256 of migration.sql as its checksum', () => {
    // Prisma compares this hex digest; the value is `printf 'SELECT 1;' | sha256sum`.
    expect(checksumOf('SELECT 1;')).toBe('17db4fd369edb9244b9f91d9aeed145c3d04ad8ba6e95d06247f07a63527d11a');
  });
});
