import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type { Config } from '../../config/config.js';
import { TooManyRequestsError } from '../../errors/errors.js';
import { accessOf } from './auth.js';
import { batchedRedisStore } from './batched-rate-limit-store.js';

/**
 * RATE_LIMIT_MAX requests per RATE_LIMIT_WINDOW_MS for each API key (each client address without
 * auth), counted in Redis so every API process shares the budget (each adds its counts every 50 ms). Public routes do not count:
 * probes and scrapes must never be turned away.
 */
async function rateLimitPlugin(app: FastifyInstance, { config, redis }: { config: Config; redis: Redis }): Promise<void> {
  await app.register(rateLimit, {
    // After authentication, so the key, not the address, is what is counted.
    hook: 'preHandler',
    max: config.RATE_LIMIT_MAX,
    timeWindow: config.RATE_LIMIT_WINDOW_MS,
    // Shared through Redis without a round trip per request (see batched-rate-limit-store.ts).
    store: batchedRedisStore(redis, `${config.QUEUE_PREFIX}:rate-limit:`),
    // A Redis outage already shows in /readyz; refusing every request on top of it would help no one.
    skipOnError: true,
    allowList: (request) => {
      const access = accessOf(request);
      return access === undefined || access === 'public';
    },
    keyGenerator: (request) => (request.apiKeyId ? `key:${request.apiKeyId}` : `ip:${request.ip}`),
    errorResponseBuilder: (_request, context) => {
      const seconds = Math.max(1, Math.ceil(context.ttl / 1000));
      return new TooManyRequestsError(`rate limit of ${context.max} requests per ${config.RATE_LIMIT_WINDOW_MS / 1000} s exceeded; retry in ${seconds} s`, seconds);
    },
  });
}

export const rateLimits = fp(rateLimitPlugin, { name: 'rate-limit' });
