import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corsOrigins } from '../../src/api/plugins/security.js';
import { startHarness, type Harness } from '../support/harness.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('security', { CORS_ORIGINS: 'https://app.example.com' });
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);

describe('security headers and request ids', () => {
  it('sends the usual security headers, the API and the dashboard alike', async () => {
    for (const path of ['/v1/jobs', '/']) {
      const response = await api().get(path);
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(response.headers['strict-transport-security']).toContain('max-age=');
      expect(response.headers['content-security-policy']).toContain("default-src 'self'");
    }
  });

  it("gives every response a request id, keeps a caller's, and puts it in error bodies", async () => {
    const generated = await api().get('/v1/jobs/nope');
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(generated.body.requestId).toBe(generated.headers['x-request-id']);
    const given = await api().get('/v1/jobs/nope').set('x-request-id', 'caller-trace.42');
    expect(given.headers['x-request-id']).toBe('caller-trace.42');
    expect(given.body.requestId).toBe('caller-trace.42');
    // Not a token we would put in a log line as is.
    const odd = await api().get('/v1/jobs/nope').set('x-request-id', 'a b"c');
    expect(odd.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('CORS', () => {
  it('answers a preflight from an allowed origin, exposing the headers clients need', async () => {
    const preflight = await api()
      .options('/v1/jobs')
      .set('origin', 'https://app.example.com')
      .set('access-control-request-method', 'POST')
      .set('access-control-request-headers', 'authorization, content-type, idempotency-key');
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(preflight.headers['access-control-allow-headers']).toContain('idempotency-key');
    const actual = await api().get('/v1/jobs').set('origin', 'https://app.example.com');
    expect(actual.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(actual.headers['access-control-expose-headers']).toContain('retry-after');
  });

  it('grants nothing to other origins', async () => {
    const response = await api().get('/v1/jobs').set('origin', 'https://evil.example.net');
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('reads CORS_ORIGINS as a list, "*" or nothing', () => {
    expect(corsOrigins('')).toBe(false);
    expect(corsOrigins('*')).toBe(true);
    expect(corsOrigins('https://a.example, https://b.example')).toEqual(['https://a.example', 'https://b.example']);
  });
});
