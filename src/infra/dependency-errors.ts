import { UnavailableError, type Dependency } from '../errors/errors.js';
import { Prisma } from '../db/prisma.js';
import { PostgresUnreachableError } from '../db/sql.js';

/**
 * Tells an outage of PostgreSQL or Redis apart from every other error, from what the drivers
 * throw: the API answers the one with 503 and a Retry-After, and keeps 500 for real bugs. This is
 * the one place that knows the drivers' ways of saying "the server is gone".
 */

/** Prisma's own codes for a server it cannot reach, that closed the connection, or a pool that ran dry. */
const PRISMA_OUTAGE_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2037']);

/** What @prisma/adapter-pg calls a lost or refused connection (its DriverAdapterError's `cause.kind`). */
const ADAPTER_OUTAGE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);

/**
 * SQLSTATEs of a server going away: class 08 (connection exceptions), 57P01-57P03 (an
 * administrator's or a crash's shutdown, or not accepting connections yet), 53300 (too many
 * connections).
 */
const isOutageSqlState = (code: string) => code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300';

/** node-postgres's messages for a connection that died or never came (they carry no code). */
const PG_OUTAGE_MESSAGES = [/^Connection terminated/, /^timeout exceeded when trying to connect/, /Client has encountered a connection error and is not queryable/, /^Can't reach database server/];

/**
 * ioredis's and BullMQ's messages for a command that Redis never answered: refused while
 * disconnected (no offline queue), flushed when the connection dropped, timed out, or sent on a
 * connection that is closing.
 */
const REDIS_OUTAGE_MESSAGES = [/^Stream isn't writeable/, /^Reached the max retries per request limit/, /^Command timed out/, /^Connection is closed\.?$/];
const REDIS_OUTAGE_NAMES = new Set(['MaxRetriesPerRequestError', 'ConnectionClosedError']);

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  /** A DriverAdapterError's cause: the adapter's name for the failure, and the server's SQLSTATE. */
  kind?: unknown;
  originalCode?: unknown;
  severity?: unknown;
  message?: unknown;
  cause?: unknown;
  meta?: { driverAdapterError?: unknown };
}

const asObject = (value: unknown): ErrorLike | null => (value !== null && typeof value === 'object' ? (value as ErrorLike) : null);
const text = (value: unknown) => (typeof value === 'string' ? value : '');

/** The adapter's account of the failure, wherever Prisma put it: on the error itself or in its meta. */
function adapterCause(error: ErrorLike): ErrorLike | null {
  const adapterError = asObject(error.meta?.driverAdapterError) ?? (error.name === 'DriverAdapterError' ? error : null);
  return asObject(adapterError?.cause);
}

function postgresOutage(error: ErrorLike): boolean {
  if (error instanceof Prisma.PrismaClientInitializationError || error instanceof PostgresUnreachableError) return true;
  if (error instanceof Prisma.PrismaClientKnownRequestError && PRISMA_OUTAGE_CODES.has(error.code)) return true;
  const cause = adapterCause(error);
  if (cause) {
    if (ADAPTER_OUTAGE_KINDS.has(text(cause.kind))) return true;
    const sqlState = text(cause.originalCode) || text(cause.code);
    if (sqlState && isOutageSqlState(sqlState)) return true;
  }
  // A pg DatabaseError thrown as is (a pg.Client of our own): a SQLSTATE of five characters.
  const code = text(error.code);
  if (/^[0-9A-Z]{5}$/.test(code) && isOutageSqlState(code) && typeof error.severity === 'string') return true;
  const message = text(error.message);
  return PG_OUTAGE_MESSAGES.some((pattern) => pattern.test(message) || pattern.test(message.trim().split('\n').at(-1) ?? ''));
}

function redisOutage(error: ErrorLike): boolean {
  if (REDIS_OUTAGE_NAMES.has(text(error.name))) return true;
  const message = text(error.message);
  return REDIS_OUTAGE_MESSAGES.some((pattern) => pattern.test(message));
}

/** Which dependency's outage `error` reports, looking through its causes; null when it is not an outage. */
export function outageOf(error: unknown): Dependency | null {
  let current = asObject(error);
  for (let depth = 0; current && depth < 5; depth += 1) {
    if (current instanceof UnavailableError && current.dependency) return current.dependency;
    if (postgresOutage(current)) return 'postgres';
    if (redisOutage(current)) return 'redis';
    current = asObject(current.cause);
  }
  return null;
}

const describe: Record<Dependency, string> = {
  postgres: 'the database (PostgreSQL) cannot be reached just now',
  redis: 'the queue (Redis) cannot be reached just now',
};

/** `error` as the 503 a client should see, or null when it is not an outage. */
export function unavailableFrom(error: unknown): UnavailableError | null {
  if (error instanceof UnavailableError) return error;
  const dependency = outageOf(error);
  if (!dependency) return null;
  const unavailable = new UnavailableError(`${describe[dependency]}: retry later`, dependency);
  unavailable.cause = error;
  return unavailable;
}

/** A 503 naming `dependency`, for code that finds it down before trying (a connection known to be closed). */
export function dependencyDown(dependency: Dependency, consequence: string): UnavailableError {
  return new UnavailableError(`${describe[dependency]}: ${consequence}; retry later`, dependency);
}
