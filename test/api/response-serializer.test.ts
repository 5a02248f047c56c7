import { readdirSync, readFileSync } from 'node:fs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { projectorOf } from '../../src/api/plugins/response-serializer.js';
import { jobPageSchema, jobSchema, problemSchema } from '../../src/api/schemas/job-schemas.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * Production answers are projected onto their schema and stringified, not checked field by field:
 * the projection must write exactly what the checking serializer writes, and nothing more.
 */
let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('serializer');
});
afterAll(async () => harness?.close());

const examples = readdirSync(new URL('../../examples/', import.meta.url)).filter((file) => file.endsWith('.json')).map((file) => JSON.parse(readFileSync(new URL(`../../examples/${file}`, import.meta.url), 'utf8')) as object);

describe('the projecting serializer', () => {
  it('writes what the checking serializer writes for a job of every example', async () => {
    const project = projectorOf(jobSchema);
    for (const spec of examples) {
      const created = await request(harness.app.server).post('/v1/jobs').send(spec);
      expect(created.status).toBe(201);
      expect(JSON.parse(JSON.stringify(project(created.body)))).toEqual(JSON.parse(JSON.stringify(z.encode(jobSchema, created.body))));
    }
    const page = (await request(harness.app.server).get('/v1/jobs?limit=50')).body;
    expect(JSON.parse(JSON.stringify(projectorOf(jobPageSchema)(page)))).toEqual(JSON.parse(JSON.stringify(z.encode(jobPageSchema, page))));
  });

  it('drops fields a schema does not declare, at every level it describes', () => {
    const job = { id: 'x', projectId: 'internal', links: { self: '/v1/jobs/x', secret: 'no' }, spec: { name: 'kept as made' } };
    const written = projectorOf(jobSchema)(job) as Record<string, unknown>;
    expect(written).not.toHaveProperty('projectId');
    expect(written.links).toEqual({ self: '/v1/jobs/x' });
    const problem = projectorOf(problemSchema)({ type: 't', title: 'T', status: 400, detail: 'd', instance: '/', errors: [{ field: 'a', message: 'm', stack: 'at x' }], internal: true });
    expect(problem).toEqual({ type: 't', title: 'T', status: 400, detail: 'd', instance: '/', errors: [{ field: 'a', message: 'm' }] });
  });
});
