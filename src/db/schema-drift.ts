import { randomUUID } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  type ConnectionInfo,
  type IsolationLevel,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
  type SqlQuery,
  type SqlResultSet,
  type Transaction,
} from '@prisma/driver-adapter-utils';
import type {
  DiffTarget,
  MigrationDirectory,
  MigrationList,
  SchemaContainer,
  SchemaEngine,
} from '@prisma/schema-engine-wasm/schema_engine_bg';
import pg from 'pg';

/**
 * Offline `prisma migrate diff`, using Prisma's schema engine compiled to WebAssembly.
 *
 * Prisma's migrate CLI needs a native schema engine binary that cannot be downloaded here; the
 * WebAssembly build of the same engine talks to PostgreSQL through a driver adapter instead, so it
 * only needs `pg`. Its package is built for bundlers (`import * as wasm from "./x.wasm"`), which
 * Node 20 cannot import, so the module is instantiated by hand the way `@prisma/internals` does.
 */

type EngineGlue = typeof import('@prisma/schema-engine-wasm/schema_engine_bg');

const require = createRequire(import.meta.url);

/** Where an `--exit-code`-style diff says "there are differences". */
const DIFF_NOT_EMPTY_EXIT_CODE = 2;

// wasm-bindgen keeps the instance in a module-level variable of its glue code: instantiating a
// second time in one process breaks the first, so every caller shares one load.
let glueLoad: Promise<EngineGlue> | undefined;

function wasmCandidates(): string[] {
  const candidates: string[] = [];
  try {
    // The prisma CLI ships the engine build that matches its own version (`prisma -v`'s engine
    // hash); prefer it so the SQL equals what `prisma migrate diff` of this checkout would print.
    candidates.push(path.join(path.dirname(require.resolve('prisma/package.json')), 'build', 'schema_engine_bg.wasm'));
  } catch {
    // No prisma CLI installed: the package's own build is still a complete engine.
  }
  const glueFile = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
  candidates.push(path.join(path.dirname(glueFile), 'schema_engine_bg.wasm'));
  return candidates;
}

async function instantiateEngine(): Promise<EngineGlue> {
  const glue = await import('@prisma/schema-engine-wasm/schema_engine_bg');
  const failures: string[] = [];
  for (const file of wasmCandidates()) {
    let instance: WebAssembly.Instance;
    try {
      const module = new WebAssembly.Module(await readFile(file));
      // The glue's exports are exactly the imports wasm-bindgen generated for the module.
      instance = new WebAssembly.Instance(module, { './schema_engine_bg.js': glue as unknown as WebAssembly.ModuleImports });
    } catch (error) {
      // A missing file or a LinkError (glue and module from different wasm-bindgen runs): try the next.
      failures.push(`${file}: ${(error as Error).message}`);
      continue;
    }
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports['__wbindgen_start'] as () => void)();
    return glue;
  }
  throw new Error(`could not load Prisma's schema engine WebAssembly module:\n  ${failures.join('\n  ')}`);
}

function loadEngineGlue(): Promise<EngineGlue> {
  glueLoad ??= instantiateEngine().catch((error: unknown) => {
    glueLoad = undefined;
    throw error;
  });
  return glueLoad;
}

/** The git hash of the schema engine build in use (matches `prisma -v` when the CLI's build loaded). */
export async function schemaEngineVersion(): Promise<string> {
  return (await loadEngineGlue()).version();
}

// --- driver adapter -------------------------------------------------------------------------------

const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;

interface FieldsCarrier {
  fields?: Array<{ dataTypeID: number }>;
}

function relabelCharColumns<T>(result: T): T {
  for (const part of Array.isArray(result) ? (result as unknown[]) : [result]) {
    for (const field of (part as FieldsCarrier | null | undefined)?.fields ?? []) {
      if (field.dataTypeID === PG_CHAR_OID) field.dataTypeID = PG_TEXT_OID;
    }
  }
  return result;
}

type QueryCallback = (error: Error | null, result: unknown) => void;

/**
 * The schema engine reads catalog columns of PostgreSQL's internal one-byte `"char"` type
 * (pg_constraint.contype, confdeltype, ...). @prisma/adapter-pg 7.10 has no mapping for that type
 * and fails the whole introspection with "Column type 'char' could not be deserialized"; on the wire
 * it is plain text, so these clients report it as text. Only pools built here use this class.
 */
class CharAsTextClient extends pg.Client {}
const baseQuery = pg.Client.prototype.query;
CharAsTextClient.prototype.query = function queryWithCharAsText(this: pg.Client, ...args: unknown[]): unknown {
  // pg.Pool passes a trailing callback; adapter-pg's transactions use the promise form.
  const last = args.length - 1;
  const callback = args[last];
  if (typeof callback === 'function') {
    args[last] = (error: Error | null, result: unknown) =>
      (callback as QueryCallback)(error, error ? result : relabelCharColumns(result));
    return Reflect.apply(baseQuery, this, args);
  }
  const returned: unknown = Reflect.apply(baseQuery, this, args);
  return returned instanceof Promise ? returned.then(relabelCharColumns) : returned;
} as unknown as typeof baseQuery;

type PgAdapter = Awaited<ReturnType<PrismaPg['connect']>>;

/**
 * adapter-pg's executeScript splits the script on every ";" (breaking string literals, comments and
 * function bodies that contain one). Migrations are applied to the shadow database through this
 * method, so send the script whole instead, exactly like src/db/migrator.ts does: pg uses the simple
 * query protocol for a query without parameters, which accepts several statements.
 */
class WholeScriptAdapter implements SqlDriverAdapter {
  readonly provider: SqlDriverAdapter['provider'];
  readonly adapterName: string;
  private disposed: Promise<void> | undefined;

  constructor(
    private readonly inner: PgAdapter,
    private readonly release: () => Promise<void>,
  ) {
    this.provider = inner.provider;
    this.adapterName = inner.adapterName;
  }

  queryRaw(query: SqlQuery): Promise<SqlResultSet> {
    return this.inner.queryRaw(query);
  }

  executeRaw(query: SqlQuery): Promise<number> {
    return this.inner.executeRaw(query);
  }

  startTransaction(isolationLevel?: IsolationLevel): Promise<Transaction> {
    return this.inner.startTransaction(isolationLevel);
  }

  async executeScript(script: string): Promise<void> {
    // Through executeRaw so that failures keep adapter-pg's mapping to engine-readable errors.
    await this.inner.executeRaw({ sql: script, args: [], argTypes: [] });
  }

  getConnectionInfo(): ConnectionInfo {
    return this.inner.getConnectionInfo();
  }

  // The engine disposes shadow databases itself, and the factory disposes whatever is left after a
  // command: either may come first.
  dispose(): Promise<void> {
    this.disposed ??= this.inner.dispose().then(this.release);
    return this.disposed;
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function withDatabase(databaseUrl: string, database: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

async function runAdminStatement(databaseUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Connects the engine to one database, and creates shadow databases next to it on demand.
 *
 * adapter-pg's own connectToShadowDb cannot be used: with a connection string its `database`
 * override is ignored (pg lets the URL win), so the "shadow" is the real database, and it drops the
 * shadow database before closing its own pool, which PostgreSQL refuses.
 */
class PgMigrationAdapterFactory implements SqlMigrationAwareDriverAdapterFactory {
  readonly provider = 'postgres' as const;
  readonly adapterName = '@prisma/adapter-pg';
  private readonly open = new Set<WholeScriptAdapter>();

  constructor(private readonly databaseUrl: string) {}

  connect(): Promise<SqlDriverAdapter> {
    return this.openAdapter(this.databaseUrl, async () => undefined);
  }

  async connectToShadowDb(): Promise<SqlDriverAdapter> {
    // drift_probe_ is the prefix this project's tooling may create and drop freely.
    const name = `drift_probe_shadow_${randomUUID().replace(/-/g, '')}`;
    await runAdminStatement(this.databaseUrl, `CREATE DATABASE ${quoteIdent(name)}`);
    try {
      return await this.openAdapter(withDatabase(this.databaseUrl, name), () =>
        // FORCE (PostgreSQL 13+) so that a connection the engine leaked cannot keep it alive.
        runAdminStatement(this.databaseUrl, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`),
      );
    } catch (error) {
      await runAdminStatement(this.databaseUrl, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      throw error;
    }
  }

  private async openAdapter(databaseUrl: string, afterClose: () => Promise<void>): Promise<SqlDriverAdapter> {
    const pool = new pg.Pool({ connectionString: databaseUrl, Client: CharAsTextClient, max: 4 });
    // An idle client whose database is dropped (DROP … WITH (FORCE)) emits 'error' on the pool;
    // without a listener that is an uncaught exception. The query path reports its own errors.
    pool.on('error', () => undefined);
    const inner = await new PrismaPg(pool).connect();
    const adapter = new WholeScriptAdapter(inner, async () => {
      this.open.delete(adapter);
      await pool.end();
      await afterClose();
    });
    this.open.add(adapter);
    return adapter;
  }

  /** Closes every pool (and drops every shadow database) the engine did not dispose of itself. */
  async close(): Promise<void> {
    await Promise.all([...this.open].map((adapter) => adapter.dispose()));
  }
}

// --- engine commands ------------------------------------------------------------------------------

export class SchemaDiffError extends Error {
  override name = 'SchemaDiffError';
}

async function withEngine<T>(
  databaseUrl: string,
  schema: SchemaContainer[],
  command: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  const glue = await loadEngineGlue();
  const factory = new PgMigrationAdapterFactory(databaseUrl);
  try {
    const engine = await glue.SchemaEngine.new(
      { datamodels: schema.map((file): [string, string] => [file.path, file.content]) },
      // The engine streams JSON tracing lines here; its errors arrive as rejections instead.
      () => undefined,
      bindMigrationAwareSqlAdapterFactory(factory),
    );
    try {
      return await command(engine);
    } finally {
      engine.free();
    }
  } catch (error) {
    // Engine failures (unreachable database, a migration that fails on the shadow database, an
    // invalid schema) carry a readable message but assorted names; give callers one type to catch.
    if (error instanceof SchemaDiffError) throw error;
    throw new SchemaDiffError(error instanceof Error ? error.message : String(error), { cause: error });
  } finally {
    await factory.close();
  }
}

/** Reads a schema file, or every *.prisma file under a folder (Prisma's multi-file schemas). */
export async function readSchemaFiles(schemaPath: string): Promise<SchemaContainer[]> {
  const resolved = path.resolve(schemaPath);
  if (!(await stat(resolved)).isDirectory()) {
    return [{ path: resolved, content: await readFile(resolved, 'utf8') }];
  }
  const names = (await readdir(resolved, { recursive: true })).filter((name) => name.endsWith('.prisma')).sort();
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(resolved, name);
      return { path: file, content: await readFile(file, 'utf8') };
    }),
  );
}

/** Reads prisma/migrations the way the CLI hands it to the engine. */
export async function readMigrationList(migrationsDir: string): Promise<MigrationList> {
  const baseDir = path.resolve(migrationsDir);
  const entries = await readdir(baseDir, { withFileTypes: true });
  const directories = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const migrationDirectories = await Promise.all(
    directories.map(async (name): Promise<MigrationDirectory> => {
      const file = path.join(baseDir, name, 'migration.sql');
      const content = await readFile(file, 'utf8').then(
        (sql) => ({ tag: 'ok' as const, value: sql }),
        (error: Error) => ({ tag: 'error' as const, value: error.message }),
      );
      return { path: name, migrationFile: { path: 'migration.sql', content } };
    }),
  );
  const lockfile = await readFile(path.join(baseDir, 'migration_lock.toml'), 'utf8').catch(() => null);
  return {
    baseDir,
    // The engine picks its SQL dialect from the lock file, which `prisma migrate dev` would have
    // written; hand-written migration folders may lack it, and this project is PostgreSQL-only.
    lockfile: { path: 'migration_lock.toml', content: lockfile ?? 'provider = "postgresql"\n' },
    shadowDbInitScript: '',
    migrationDirectories,
  };
}

const NO_FILTERS = { externalTables: [], externalEnums: [] };

async function diff(databaseUrl: string, schema: SchemaContainer[], from: DiffTarget): Promise<string> {
  return withEngine(databaseUrl, schema, async (engine) => {
    const result = await engine.diff({
      from,
      to: { tag: 'schemaDatamodel', files: schema },
      script: true,
      exitCode: true,
      filters: NO_FILTERS,
    });
    const sql = result.stdout ?? '';
    if (result.exitCode !== 0 && result.exitCode !== DIFF_NOT_EMPTY_EXIT_CODE) {
      throw new SchemaDiffError(`schema engine diff exited with code ${result.exitCode}:\n${sql}`);
    }
    return sql;
  });
}

/**
 * SQL that would bring the live database at `databaseUrl` to `schemaPath`. Only comments
 * ("-- This is an empty migration.") when they agree: see {@link isEmptyDiff}. Prisma's own
 * `_prisma_migrations` table is not part of the comparison.
 */
export async function diffDatabaseAgainstSchema(databaseUrl: string, schemaPath: string): Promise<string> {
  const schema = await readSchemaFiles(schemaPath);
  const configDir = path.dirname(path.resolve(schemaPath));
  // "schemaDatasource" is the database the engine's driver adapter is connected to.
  return diff(databaseUrl, schema, { tag: 'schemaDatasource', files: schema, configDir });
}

/**
 * SQL for the next migration: what the schema needs beyond what `migrationsDir` builds, like
 * `prisma migrate diff --from-migrations <dir> --to-schema <schema> --script`. The migrations are
 * replayed in a temporary `drift_probe_shadow_*` database created (and dropped) on the server of
 * `serverUrl`, whose own database is left untouched.
 */
export async function diffMigrationsAgainstSchema(
  migrationsDir: string,
  schemaPath: string,
  serverUrl: string,
): Promise<string> {
  const [schema, migrations] = await Promise.all([readSchemaFiles(schemaPath), readMigrationList(migrationsDir)]);
  return diff(serverUrl, schema, { tag: 'migrations', ...migrations });
}

/** True when a diff script holds nothing but comments and whitespace. */
export function isEmptyDiff(sql: string): boolean {
  return (
    sql
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/--.*$/gm, '')
      .trim() === ''
  );
}
