// Prints the SQL of the next migration, offline: the `prisma migrate diff --script` that the
// migrate CLI cannot run here (its native engine cannot be downloaded), done with the WebAssembly
// build of the same engine (src/db/schema-drift.ts).
//
//   node --import tsx scripts/migration-diff.ts                 # prisma/migrations -> schema.prisma
//   node --import tsx scripts/migration-diff.ts --from-url URL  # a live database  -> schema.prisma
//
// New migration:
//   mkdir prisma/migrations/<yyyymmddhhmmss>_<name>
//   node --import tsx scripts/migration-diff.ts > prisma/migrations/<yyyymmddhhmmss>_<name>/migration.sql
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  diffDatabaseAgainstSchema,
  diffMigrationsAgainstSchema,
  isEmptyDiff,
  schemaEngineVersion,
} from '../src/db/schema-drift.js';

const root = fileURLToPath(new URL('..', import.meta.url));

const usage = `usage: node --import tsx scripts/migration-diff.ts [options]

Prints to stdout the SQL that takes the starting point to the schema.

  --from-migrations DIR  start from what DIR's migrations build (default: prisma/migrations),
                         replayed in a temporary drift_probe_shadow_* database
  --from-url URL         start from a live database instead (read only)
  --schema PATH          target schema file or folder (default: prisma/schema.prisma)
  --shadow-url URL       server for the temporary database (default: DATABASE_URL's server,
                         else postgresql://postgres@127.0.0.1:5432; its own database is untouched)
  --exit-code            exit 2 when the SQL is not empty (for CI), 0 when it is
  -h, --help`;

/** The maintenance database of a server: exists everywhere, unlike the app's own database. */
function serverUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.pathname = '/postgres';
  return url.toString();
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'from-migrations': { type: 'string' },
      'from-url': { type: 'string' },
      schema: { type: 'string', default: `${root}prisma/schema.prisma` },
      'shadow-url': { type: 'string' },
      'exit-code': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (values['from-migrations'] !== undefined && values['from-url'] !== undefined) {
    console.error(`--from-migrations and --from-url are exclusive\n\n${usage}`);
    return 1;
  }

  const started = performance.now();
  let sql: string;
  if (values['from-url'] !== undefined) {
    sql = await diffDatabaseAgainstSchema(values['from-url'], values.schema);
  } else {
    const shadowServer =
      values['shadow-url'] ?? serverUrl(process.env['DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
    sql = await diffMigrationsAgainstSchema(
      values['from-migrations'] ?? `${root}prisma/migrations`,
      values.schema,
      shadowServer,
    );
  }
  // Progress goes to stderr so that stdout can be redirected straight into a migration.sql.
  console.error(
    `schema engine ${await schemaEngineVersion()}: ${isEmptyDiff(sql) ? 'no changes' : 'changes found'} in ${Math.round(performance.now() - started)} ms`,
  );
  process.stdout.write(sql);
  return values['exit-code'] && !isEmptyDiff(sql) ? 2 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`${error instanceof Error ? error.message : String(error)}\n(see --help)`);
    process.exitCode = 1;
  },
);
