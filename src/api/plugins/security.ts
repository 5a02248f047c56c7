import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config/config.js';

/** "a, b" → the list; "*" → any origin; "" → no cross-origin access at all. */
export function corsOrigins(setting: string): string[] | boolean {
  const origins = setting.split(',').map((origin) => origin.trim()).filter(Boolean);
  if (origins.includes('*')) return true;
  return origins.length > 0 ? origins : false;
}

/** Security headers on every response, CORS as configured, and the request id echoed back. */
async function securityPlugin(app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        // uPlot and the dashboard set element styles; /docs brings its own stricter policy.
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'", 'ws:', 'wss:'],
      },
    },
  });
  await app.register(cors, {
    origin: corsOrigins(config.CORS_ORIGINS),
    exposedHeaders: ['location', 'retry-after', 'x-request-id', 'idempotent-replayed', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
    allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'x-request-id'],
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
}

export const security = fp(securityPlugin, { name: 'security' });
