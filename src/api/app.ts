import { randomUUID } from 'node:crypto';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { JobEventSubscriber } from '../events/job-event-subscriber.js';
import type { Services } from '../infra/services.js';
import { withoutAccessToken } from './plugins/access-token.js';
import { RequestLogController } from './request-log-controller.js';
import { auth } from './plugins/auth.js';
import { answerClientError } from './plugins/client-errors.js';
import { failureLimit } from './plugins/failure-limit.js';
import { inputGuard } from './plugins/input-guard.js';
import { errorHandler, sendProblem } from './plugins/error-handler.js';
import { rateLimits } from './plugins/rate-limit.js';
import { responseSerializerCompiler } from './plugins/response-serializer.js';
import { routeTable } from './plugins/route-table.js';
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
import { runRoutes } from './routes/runs.js';
import { streamRoutes } from './routes/stream.js';
import { studyRoutes } from './routes/studies.js';
import { workerRoutes } from './routes/workers.js';

/** Builds the HTTP API on top of already-connected services; listening is the caller's choice. */
export async function buildApp(services: Services): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: services.logger as FastifyBaseLogger,
    logController: new RequestLogController(),
    bodyLimit: services.config.BODY_LIMIT_BYTES,
    // A caller's x-request-id is kept (when it is a sane token) so its logs and ours join up.
    requestIdHeader: false,
    genReqId: (raw) => {
      const given = raw.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    rewriteUrl: withoutAccessToken,
    clientErrorHandler: answerClientError,
    // The router's own refusals (a path that does not decode) get the same problem body as ours.
    frameworkErrors: (error, request, reply) => {
      sendProblem(reply, request, { title: 'Invalid request', status: 400, detail: error.message, errors: [{ in: 'path', field: '(path)', message: error.message }] });
    },
    // A client that trickles its headers or body, or holds a silent connection, is cut off.
    requestTimeout: services.config.REQUEST_TIMEOUT_MS,
    connectionTimeout: services.config.IDLE_TIMEOUT_MS,
    keepAliveTimeout: Math.min(5_000, services.config.IDLE_TIMEOUT_MS),
    http: {
      // Node 20 never times out a silent connection when headersTimeout is below the socket timeout
      // (measured): the headers may take as long as a connection may idle.
      headersTimeout: Math.max(services.config.HEADERS_TIMEOUT_MS, services.config.IDLE_TIMEOUT_MS),
      // How often Node checks the two timeouts above (default 30 s: a slow client would outlive them).
      connectionsCheckingInterval: Math.min(1_000, services.config.HEADERS_TIMEOUT_MS),
    },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(responseSerializerCompiler(services.config.RESPONSE_CHECKS));
  // Job specs are JSON; a text body is a client mistake (415), not a spec to validate.
  app.removeContentTypeParser('text/plain');

  // Fail-fast: a stream opened while Redis is down is refused at once rather than left waiting.
  const subscriber = new JobEventSubscriber(await services.connectFailFast('subscriber'), services.config.QUEUE_PREFIX, services.logger);

  await app.register(errorHandler);
  await app.register(routeTable);
  // Before auth: its onRequest hook marks upgrade requests, and only marked sockets are destroyed
  // after a refused upgrade (a 401 from a hook that ran first would leave the socket open).
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  await app.register(security, { config: services.config });
  await app.register(inputGuard);
  // Before auth: a client past its budget of failures is turned away before its key is looked up.
  await app.register(failureLimit, { config: services.config, redis: services.redis });
  await app.register(auth, { config: services.config, projects: services.projects, revocations: services.newRedisConnection('key-revocations') });
  await app.register(rateLimits, { config: services.config, redis: services.redis });
  // Before every documented route, /metrics included: it collects the routes registered after it.
  await app.register(swaggerDocs);
  await app.register(metricsPlugin(services, subscriber));
  await app.register(healthRoutes(services));
  await app.register(jobRoutes(services));
  await app.register(runRoutes(services));
  await app.register(streamRoutes(services, subscriber));
  await app.register(studyRoutes(services, subscriber));
  await app.register(checkpointRoutes(services));
  await app.register(datasetRoutes(services));
  await app.register(workerRoutes(services));
  await app.register(adminRoutes(services));
  await app.register(predictRoutes(services));
  await app.register(exampleRoutes);
  await app.register(dashboardRoutes);
  return app;
}
