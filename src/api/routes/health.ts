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

async function check(probe: () => Promise<unknown>): Promise<'ok' | 'failing'> {
  try {
    await Promise.race([probe(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2_000).unref())]);
    return 'ok';
  } catch {
    return 'failing';
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
