import { readdirSync, readFileSync } from 'node:fs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { writerOf } from '../../src/api/plugins/response-serializer.js';
import { jobPageSchema, jobSchema, problemSchema } from '../../src/api/schemas/job-schemas.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * Production answers are written by walking their schema, not checked field by field: the writer
 * must write exactly what the checking serializer writes, and nothing more.
 */
let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('serializer');
});
afterAll(async () => harness?.close());

const examples = readdirSync(new URL('../../examples/', import.meta.url)).filter((file) => file.endsWith('.json')).map((file) => JSON.parse(readFileSync(new URL(`../../examples/${file}`, import.meta.url), 'utf8')) as object);

const written = (schema: z.ZodType, value: unknown): unknown => JSON.parse(writerOf(schema)(value)!);

describe('the schema-walking serializer', () => {
  it('writes what the checking serializer writes for a job of every example', async () => {
    for (const spec of examples) {
      const created = await request(harness.app.server).post('/v1/jobs').send(spec);
      expect(created.status).toBe(201);
      expect(writerOf(jobSchema)(created.body)).toBe(JSON.stringify(z.encode(jobSchema, created.body)));
    }
    const page = (await request(harness.app.server).get('/v1/jobs?limit=50')).body;
    expect(page.data.length).toBe(examples.length);
    expect(writerOf(jobPageSchema)(page)).toBe(JSON.stringify(z.encode(jobPageSchema, page)));
  });

  it('drops fields a schema does not declare, at every level it describes', () => {
    const job = { id: 'x', projectId: 'internal', links: { self: '/v1/jobs/x', secret: 'no' }, spec: { name: 'kept as made' } };
    const view = written(jobSchema, job) as Record<string, unknown>;
    expect(view).not.toHaveProperty('projectId');
    expect(view.links).toEqual({ self: '/v1/jobs/x' });
    const problem = written(problemSchema, { type: 't', title: 'T', status: 400, detail: 'd', instance: '/', errors: [{ field: 'a', message: 'm', stack: 'at x' }], internal: true });
    expect(problem).toEqual({ type: 't', title: 'T', status: 400, detail: 'd', instance: '/', errors: [{ field: 'a', message: 'm' }] });
  });

  it('writes as JSON.stringify does where a value is absent, null or not an object', () => {
    const page = { data: [{ id: 'a', name: null, startedAt: undefined, restartCauses: [] }], hasMore: false, next: null };
    expect(writerOf(jobPageSchema)(page)).toBe(JSON.stringify({ data: [{ id: 'a', name: null, restartCauses: [] }], hasMore: false, next: null }));
    expect(writerOf(jobPageSchema)({ data: [], hasMore: true })).toBe('{"data":[],"hasMore":true}');
    expect(writerOf(jobSchema)(null)).toBe('null');
    expect(writerOf(jobSchema)({})).toBe('{}');
  });

  it('writes each spec as its own: one spec written twice, two specs written apart', () => {
    const [first, second] = [{ name: 'one', epochs: 1 }, { name: 'two', epochs: 2 }];
    const write = writerOf(jobPageSchema);
    const page = { data: [{ id: 'a', spec: first }, { id: 'b', spec: second }, { id: 'c', spec: first }], hasMore: false, next: null };
    expect(write(page)).toBe(JSON.stringify(page));
    expect(write(page)).toBe(JSON.stringify(page));
    expect(write({ ...page, data: [{ id: 'd', spec: { name: 'three', epochs: 3 } }] })).toBe(JSON.stringify({ ...page, data: [{ id: 'd', spec: { name: 'three', epochs: 3 } }] }));
  });
});
