import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../infra/services.js';

const healthSchema = z.object({ status: z.literal('ok') });
const readySchema = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    checks: z.object({ postgres: z.enum(['ok', 'failing']), redis: z.enum(['ok', 'failing']) }),
  })
  .meta({ id: 'Readiness' });

/**
 * A stopped service fails its probe at once (the connections fail fast, see services.ts); this
 * bounds a server that hangs without refusing, and stays under the usual probe timeouts.
 */
const PROBE_TIMEOUT_MS = 2_000;

async function check(probe: () => Promise<unknown>): Promise<'ok' | 'failing'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([probe(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), PROBE_TIMEOUT_MS)))]);
    return 'ok';
  } catch {
    return 'failing';
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(services: Services) {
  return async (app: FastifyInstance): Promise<void> => {
    const api = app.withTypeProvider<ZodTypeProvider>();
    api.get('/healthz', { config: { access: 'public' }, schema: { operationId: 'getHealth', tags: ['health'], summary: 'The process is alive', response: { 200: healthSchema } } }, async () => ({
      status: 'ok' as const,
    }));
    api.get(
      '/readyz',
      {
        config: { access: 'public' },
        schema: {
          operationId: 'getReadiness',
          tags: ['health'],
          summary: 'Ready only when PostgreSQL and Redis answer',
          response: { 200: readySchema, 503: readySchema },
        },
      },
      async (_request, reply) => {
        const [postgres, redis] = await Promise.all([check(() => services.prisma.$queryRaw`SELECT 1`), check(() => services.redis.ping())]);
        const ready = postgres === 'ok' && redis === 'ok';
        return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', checks: { postgres, redis } });
      },
    );
  };
}
