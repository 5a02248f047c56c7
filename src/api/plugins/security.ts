import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import fp from 'fastify-plugin';
import type { Config } from '../../config/config.js';

/** "a, b" → the list; "*" → any origin; "" → no cross-origin access at all. */
export function corsOrigins(setting: string): string[] | boolean {
  const origins = setting.split(',').map((origin) => origin.trim()).filter(Boolean);
  if (origins.includes('*')) return true;
  return origins.length > 0 ? origins : false;
}

const helmetOptions: HelmetOptions = {
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
};

/**
 * helmet's headers for our options, worked out once: they do not depend on the request (no CSP
 * nonces). @fastify/helmet built helmet anew on every request, 5 % of a job read's CPU.
 */
export function helmetHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: unknown) {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, () => undefined);
  return headers;
}

/** Security headers on every response, CORS as configured, and the request id echoed back. */
async function securityPlugin(app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  const headers = helmetHeaders(helmetOptions);
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
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
