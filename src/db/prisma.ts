import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type { PrismaClient };
export { Prisma } from '../generated/prisma/client.js';

/**
 * How long a query waits for a connection: a new one to a server that neither answers nor refuses,
 * or a free one from a pool that is all busy. node-postgres waits forever by default; past this the
 * query fails and the API answers 503 (a stopped server refuses at once and fails sooner).
 */
export const CONNECTION_TIMEOUT_MS = 5_000;

export function createPrisma(databaseUrl: string): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, connectionTimeoutMillis: CONNECTION_TIMEOUT_MS }) });
}

/**
 * Prisma for most data access, and its connection pool for the few statements every request
 * makes (reading a job, listing jobs, creating one): through node-postgres directly, as named
 * prepared statements, those cost a third of what they cost through Prisma's query engine.
 * One pool, so both count against the same connection limit.
 */
export interface Database {
  prisma: PrismaClient;
  pool: pg.Pool;
}

/**
 * Sessions run without JIT compilation: it pays off on long analytic scans, which this service
 * never runs, and it costs ~100 ms a statement whenever the planner's estimate passes
 * jit_above_cost — as a batched page of jobs does, whose LIMIT comes from a column the planner
 * cannot see (measured at 10⁶ jobs: 130 pages/s with JIT, 1 000 without).
 */
const SESSION_OPTIONS = '-c jit=off';

/**
 * Options given in DATABASE_URL's ?options= are kept, ours after them (so ours win). node-postgres
 * lets the URL's options replace the config's, so they move from the URL to the config.
 */
function withSessionOptions(databaseUrl: string): { connectionString: string; options: string } {
  if (!URL.canParse(databaseUrl)) return { connectionString: databaseUrl, options: SESSION_OPTIONS };
  const url = new URL(databaseUrl);
  const given = url.searchParams.get('options');
  url.searchParams.delete('options');
  return { connectionString: url.toString(), options: given ? `${given} ${SESSION_OPTIONS}` : SESSION_OPTIONS };
}

export function createDatabase(databaseUrl: string): Database {
  const pool = new pg.Pool({ ...withSessionOptions(databaseUrl), connectionTimeoutMillis: CONNECTION_TIMEOUT_MS });
  // An idle connection that PostgreSQL drops (a restart, a terminated session) is removed from the
  // pool; the next query opens a new one. Without a listener the error would end the process.
  pool.on('error', () => undefined);
  return { prisma: new PrismaClient({ adapter: new PrismaPg(pool) }), pool };
}

/** Ends Prisma's use of the pool, then the pool. */
export async function closeDatabase(database: Database): Promise<void> {
  await database.prisma.$disconnect();
  await database.pool.end();
}
