import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../infra/services.js';
import { WorkerRegistry, workerHeartbeatSchema } from '../../observability/worker-registry.js';

export function workerRoutes(services: Services) {
  return async (app: FastifyInstance): Promise<void> => {
    const registry = new WorkerRegistry(services.redis, services.config.QUEUE_PREFIX, services.config.WORKER_HEARTBEAT_MS);
    app.withTypeProvider<ZodTypeProvider>().get(
      '/v1/workers',
      {
        schema: {
          tags: ['workers'],
          summary: 'Training workers alive now (a heartbeat within the last three WORKER_HEARTBEAT_MS)',
          response: { 200: z.object({ data: z.array(workerHeartbeatSchema) }) },
        },
      },
      async () => ({ data: await registry.list() }),
    );
  };
}
