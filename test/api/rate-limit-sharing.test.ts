import type { FastifyInstance } from 'fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { createServices, type Services } from '../../src/infra/services.js';
import { createLogger } from '../../src/logging/logger.js';
import { startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

/**
 * Rate limits are counted per process and shared through Redis every 50 ms: a key's budget is one
 * budget across API processes, not one per process.
 */
let harness: Harness;
let other: { services: Services; app: FastifyInstance };

beforeAll(async () => {
  harness = await startHarness('ratelimitshare', { AUTH_MODE: 'required', RATE_LIMIT_MAX: '10', RATE_LIMIT_WINDOW_MS: '60000' });
  const services = await createServices(harness.config, createLogger('warn', 'test:ratelimitshare-other'));
  other = { services, app: await buildApp(services) };
  await other.app.ready();
});
afterAll(async () => {
  await other?.app.close();
  await other?.services.close();
  await harness?.close();
});

describe('a rate limit shared by API processes', () => {
  it('counts a key once across processes', async () => {
    const key = await harness.apiKey('shared-budget');
    for (let i = 0; i < 6; i++) expect((await request(harness.app.server).get('/v1/jobs').set(key)).status).toBe(200);
    const counted = async () => Number(await harness.services.redis.get(`${harness.config.QUEUE_PREFIX}:rate-limit:key:${(await harness.services.projects.listKeys('shared-budget'))[0]!.id}`));
    // The first process's six reach Redis within a flush.
    await waitFor('the first process to share its count', async () => (await counted()) === 6, 5_000);
    // The other process's first request is its 7th; once that has been shared, it knows the total.
    expect((await request(other.app.server).get('/v1/jobs').set(key)).status).toBe(200);
    await waitFor('the other process to share its count and learn the total', async () => (await counted()) === 7, 5_000);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await request(other.app.server).get('/v1/jobs').set(key)).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });
});
