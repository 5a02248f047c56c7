import type { FastifyInstance } from 'fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { createServices, type Services } from '../../src/infra/services.js';
import { createLogger } from '../../src/logging/logger.js';
import { startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

/**
 * API processes cache the keys they have looked up. A revocation made through any of them (or the
 * CLI) must still stop the key everywhere: the second process here shares the database and Redis
 * but not the cache, and its cache would trust the key for a minute without the announcement.
 */
const ADMIN_TOKEN = 'admin-token-for-the-key-cache-tests';
let harness: Harness;
let other: { services: Services; app: FastifyInstance };

beforeAll(async () => {
  harness = await startHarness('keycache', { AUTH_MODE: 'required', ADMIN_TOKEN, KEY_CACHE_TTL_MS: '60000' });
  const services = await createServices(harness.config, createLogger('warn', 'test:keycache-other'));
  other = { services, app: await buildApp(services) };
  await other.app.ready();
});
afterAll(async () => {
  await other?.app.close();
  await other?.services.close();
  await harness?.close();
});

describe('cached keys', () => {
  it('a key revoked through one API process is refused by another at once', async () => {
    const key = await harness.apiKey('cached');
    // The other process looks the key up once and caches it.
    expect((await request(other.app.server).get('/v1/jobs').set(key)).status).toBe(200);
    const lookups: string[] = [];
    const original = other.services.prisma.apiKey.findUnique.bind(other.services.prisma.apiKey);
    (other.services.prisma.apiKey as { findUnique: unknown }).findUnique = (...args: Parameters<typeof original>) => {
      lookups.push('lookup');
      return original(...args);
    };
    expect((await request(other.app.server).get('/v1/jobs').set(key)).status).toBe(200);
    expect(lookups).toEqual([]);

    const [record] = await harness.services.projects.listKeys('cached');
    expect((await request(harness.app.server).delete(`/v1/admin/keys/${record!.id}`).set('authorization', `Bearer ${ADMIN_TOKEN}`)).status).toBe(200);
    await waitFor('the other process to refuse the revoked key', async () => (await request(other.app.server).get('/v1/jobs').set(key)).status === 401, 5_000);
  });

  it('a revoked key is refused by the process that revoked it on the very next request', async () => {
    const key = await harness.apiKey('cached-here');
    expect((await request(harness.app.server).get('/v1/jobs').set(key)).status).toBe(200);
    const [record] = await harness.services.projects.listKeys('cached-here');
    await harness.services.projects.revokeKey(record!.id);
    expect((await request(harness.app.server).get('/v1/jobs').set(key)).status).toBe(401);
  });
});
