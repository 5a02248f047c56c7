import { PrismaPg } from '@prisma/adapter-pg';
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
