import type pg from 'pg';

/**
 * A socket-level failure of a query through the pool (refused, reset, timed out): node-postgres
 * throws Node's own errors for these, which say nothing of PostgreSQL. This name does, so an
 * outage reads as one (src/infra/dependency-errors.ts) and the API answers 503, not 500.
 */
export class PostgresUnreachableError extends Error {
  override readonly name = 'PostgresUnreachableError';
}

const SOCKET_ERROR = /^E[A-Z]+$/;

/**
 * One named prepared statement on the pool: PostgreSQL parses and plans it once per connection,
 * and later calls send only its parameters.
 */
export async function preparedQuery<Row extends pg.QueryResultRow>(pool: pg.Pool, name: string, text: string, values: unknown[]): Promise<Row[]> {
  try {
    return (await pool.query<Row>({ name, text, values })).rows;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && SOCKET_ERROR.test(code)) throw new PostgresUnreachableError(`PostgreSQL unreachable: ${(error as Error).message}`, { cause: error });
    throw error;
  }
}
