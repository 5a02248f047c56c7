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

export function createDatabase(databaseUrl: string): Database {
  const pool = new pg.Pool({ connectionString: databaseUrl, connectionTimeoutMillis: CONNECTION_TIMEOUT_MS });
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
