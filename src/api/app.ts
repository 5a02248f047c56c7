import { randomUUID } from 'node:crypto';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { JobEventSubscriber } from '../events/job-event-subscriber.js';
import type { Services } from '../infra/services.js';
import { auth, withoutAccessToken } from './plugins/auth.js';
import { errorHandler } from './plugins/error-handler.js';
import { rateLimits } from './plugins/rate-limit.js';
import { security } from './plugins/security.js';
import { metricsPlugin } from './plugins/metrics.js';
import { swaggerDocs } from './plugins/swagger.js';
import { adminRoutes } from './routes/admin.js';
import { checkpointRoutes } from './routes/checkpoints.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { datasetRoutes } from './routes/datasets.js';
import { exampleRoutes } from './routes/examples.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';
import { predictRoutes } from './routes/predict.js';
import { streamRoutes } from './routes/stream.js';
import { workerRoutes } from './routes/workers.js';

/** Builds the HTTP API on top of already-connected services; listening is the caller's choice. */
export async function buildApp(services: Services): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: services.logger as FastifyBaseLogger,
    bodyLimit: services.config.BODY_LIMIT_BYTES,
    // A caller's x-request-id is kept (when it is a sane token) so its logs and ours join up.
    requestIdHeader: false,
    genReqId: (raw) => {
      const given = raw.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    rewriteUrl: withoutAccessToken,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Job specs are JSON; a text body is a client mistake (415), not a spec to validate.
  app.removeContentTypeParser('text/plain');

  const subscriber = new JobEventSubscriber(services.newRedisConnection('subscriber'), services.config.QUEUE_PREFIX, services.logger);

  await app.register(errorHandler);
  // Before auth: its onRequest hook marks upgrade requests, and only marked sockets are destroyed
  // after a refused upgrade (a 401 from a hook that ran first would leave the socket open).
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  await app.register(security, { config: services.config });
  await app.register(auth, { config: services.config, projects: services.projects });
  await app.register(rateLimits, { config: services.config, redis: services.redis });
  await app.register(metricsPlugin(services, subscriber));
  await app.register(swaggerDocs);
  await app.register(healthRoutes(services));
  await app.register(jobRoutes(services));
  await app.register(streamRoutes(services, subscriber));
  await app.register(checkpointRoutes(services));
  await app.register(datasetRoutes(services));
  await app.register(workerRoutes(services));
  await app.register(adminRoutes(services));
  await app.register(predictRoutes(services));
  await app.register(exampleRoutes);
  await app.register(dashboardRoutes);
  return app;
}
