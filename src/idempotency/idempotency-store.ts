import { createHash } from 'node:crypto';
import { ConflictError, UnprocessableError, ValidationError } from '../errors/errors.js';
import { Prisma, type PrismaClient } from '../db/prisma.js';

export interface StoredResponse {
  status: number;
  body: unknown;
}

/** How long a key is remembered: a day, as clients' retry windows go. */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3_600_000;

export const hashRequest = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

/**
 * Idempotency-Key semantics for POSTs: the first request with a key runs, its answer is kept, and a
 * retry with the same key gets that answer again, never a second job or data set. The key is
 * claimed in PostgreSQL before the work starts, so two concurrent retries cannot both run. A
 * request that fails releases its key, so the client can retry it.
 */
export class IdempotencyStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** Forgets finished keys older than `maxAgeMs`: a retry that late is a new request. */
  async prune(maxAgeMs: number): Promise<number> {
    const { count } = await this.prisma.idempotencyKey.deleteMany({ where: { createdAt: { lt: new Date(Date.now() - maxAgeMs) }, status: { not: null } } });
    return count;
  }

  /** Keys are per project: two projects may use the same key without meeting. */
  async run(projectId: string, scope: string, key: string, requestHash: string, work: () => Promise<StoredResponse>): Promise<StoredResponse & { replayed: boolean }> {
    if (key.length === 0 || key.length > 255) {
      throw new ValidationError('invalid Idempotency-Key', [{ field: 'Idempotency-Key', message: 'must be 1 to 255 characters' }]);
    }
    try {
      await this.prisma.idempotencyKey.create({ data: { projectId, scope, key, requestHash } });
    } catch (error) {
      if (!(error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002')) throw error;
      const first = await this.prisma.idempotencyKey.findUnique({ where: { projectId_scope_key: { projectId, scope, key } } });
      if (!first) return this.run(projectId, scope, key, requestHash, work);
      if (first.requestHash !== requestHash) {
        throw new UnprocessableError(`Idempotency-Key "${key}" was already used for a different ${scope} request; use a new key for a new request`);
      }
      if (first.status === null) throw new ConflictError(`a ${scope} request with Idempotency-Key "${key}" is still in progress; retry in a moment`);
      return { status: first.status, body: first.response, replayed: true };
    }
    try {
      const response = await work();
      await this.prisma.idempotencyKey.update({
        where: { projectId_scope_key: { projectId, scope, key } },
        data: { status: response.status, response: response.body as Prisma.InputJsonValue },
      });
      return { ...response, replayed: false };
    } catch (error) {
      await this.prisma.idempotencyKey.delete({ where: { projectId_scope_key: { projectId, scope, key } } }).catch(() => undefined);
      throw error;
    }
  }
}
