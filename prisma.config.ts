import { defineConfig } from 'prisma/config';

// The CLI is only used for `generate` here (its migrate commands need a native engine that
// cannot be downloaded offline); migrations are applied by src/db/migrator.ts.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/trainyard',
  },
});
