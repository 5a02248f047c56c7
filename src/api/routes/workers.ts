import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../infra/services.js';
import { workerHeartbeatSchema } from '../../observability/worker-registry.js';
import { projectOf } from '../plugins/auth.js';

export function workerRoutes(services: Services) {
  return async (app: FastifyInstance): Promise<void> => {
    app.withTypeProvider<ZodTypeProvider>().get(
      '/v1/workers',
      {
        schema: {
          operationId: 'listWorkers',
          tags: ['workers'],
          summary: 'Training workers alive now (a heartbeat within the last three WORKER_HEARTBEAT_MS)',
          description: "Workers are shared by every project; `runningJobs` lists only the caller's project's jobs.",
          response: { 200: z.object({ data: z.array(workerHeartbeatSchema) }) },
        },
      },
      async (request) => {
        const workers = await services.workers.list();
        const own = await services.store.inProject(
          workers.flatMap((worker) => worker.runningJobs),
          projectOf(request).id,
        );
        return { data: workers.map((worker) => ({ ...worker, runningJobs: worker.runningJobs.filter((id) => own.has(id)) })) };
      },
    );
  };
}
