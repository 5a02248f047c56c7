import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type { Config } from '../../config/config.js';
import { TooManyRequestsError } from '../../errors/errors.js';
import { accessOf } from './auth.js';

/** Answers that cost the server work and that a well-behaved client does not repeat: bad input, wrong keys. */
const COUNTED = new Set([400, 401, 403, 413, 415, 422]);

/** How long a blocked client waits for its 429. */
const TARPIT_MS = 1_000;

/** Bounds the memory of the local block list under a flood of addresses. */
const MAX_BLOCKED = 10_000;

/**
 * A budget of failed requests per client address (FAILURE_LIMIT_MAX per FAILURE_LIMIT_WINDOW_MS):
 * invalid specs, wrong API keys and the like are counted in Redis, shared by every API process; a
 * client past its budget gets 429 before authentication, so key guessing costs no database lookup.
 * The decision is cached in the process until the window ends, so a good request pays nothing.
 */
async function failureLimitPlugin(app: FastifyInstance, { config, redis }: { config: Config; redis: Redis }): Promise<void> {
  const blockedUntil = new Map<string, number>();
  const prefix = `${config.QUEUE_PREFIX}:failures:`;
  const windowMs = config.FAILURE_LIMIT_WINDOW_MS;

  const block = (client: string, until: number) => {
    if (blockedUntil.size >= MAX_BLOCKED) {
      const now = Date.now();
      for (const [address, time] of blockedUntil) if (time <= now) blockedUntil.delete(address);
      if (blockedUntil.size >= MAX_BLOCKED) blockedUntil.delete(blockedUntil.keys().next().value!);
    }
    blockedUntil.set(client, until);
  };

  app.addHook('onRequest', async (request, reply) => {
    const until = blockedUntil.get(request.ip);
    // Probes and scrapes are never turned away.
    if (until === undefined || accessOf(request) === 'public') return;
    const remainingMs = until - Date.now();
    if (remainingMs <= 0) {
      blockedUntil.delete(request.ip);
      return;
    }
    const seconds = Math.max(1, Math.ceil(remainingMs / 1000));
    // A flood of refusals still costs CPU: each is answered after a pause, on a connection that is
    // then closed, so a client hammering from a few connections slows to a few requests a second.
    await new Promise((resolve) => setTimeout(resolve, Math.min(TARPIT_MS, remainingMs)));
    reply.header('connection', 'close');
    throw new TooManyRequestsError(
      `too many failed requests from this client (invalid input or wrong API keys: more than ${config.FAILURE_LIMIT_MAX} per ${windowMs / 1000} s); retry in ${seconds} s`,
      seconds,
    );
  });

  app.addHook('onResponse', async (request, reply) => {
    if (!COUNTED.has(reply.statusCode)) return;
    const key = `${prefix}${request.ip}`;
    try {
      const results = await redis.multi().incr(key).pexpire(key, windowMs, 'NX').pttl(key).exec();
      const count = Number(results?.[0]?.[1] ?? 0);
      const ttl = Number(results?.[2]?.[1] ?? windowMs);
      if (count > config.FAILURE_LIMIT_MAX) block(request.ip, Date.now() + (ttl > 0 ? ttl : windowMs));
    } catch (error) {
      // Redis down: /readyz says so; counting failures is not worth failing anything over.
      request.log.debug({ err: error }, 'could not count a failed request');
    }
  });
}

export const failureLimit = fp(failureLimitPlugin, { name: 'failure-limit' });
