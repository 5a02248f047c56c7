import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobSpecSchema } from '../../src/spec/job-spec.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * Concurrent submissions are written together (src/infra/batcher.ts: one statement, one addBulk,
 * one publish pipeline per batch). Batching must not lose, double or mix up a job: each is
 * recorded once, for its own project, with its own spec, events and queue entry.
 */

let harness: Harness;
beforeAll(async () => {
  // No worker: the jobs stay queued, so the queue holds exactly what the API put there.
  harness = await startHarness('concurrentsubmit', { AUTH_MODE: 'required', RATE_LIMIT_MAX: '100000' });
});
afterAll(async () => harness?.close());

const spec = (name: string, epochs: number) => ({ name, dataset: { name: 'iris' }, model: { layers: [{ type: 'dense', units: 3 }] }, epochs });

describe('concurrent submissions', () => {
  it('records 120 jobs of two projects submitted at once, each once, for its own project, queued once with its first events', async () => {
    const projects = [await harness.apiKey('batch-a'), await harness.apiKey('batch-b')];
    // Large epochs on a few: their advice event (seq 2) rides in the same batch as jobs without one.
    const submissions = Array.from({ length: 120 }, (_, i) => ({ project: i % 2, name: `job ${i}`, epochs: i % 7 === 0 ? 5000 : 3 }));
    const responses = await Promise.all(
      submissions.map(({ project, name, epochs }) => request(harness.app.server).post('/v1/jobs').set('authorization', projects[project]!.authorization).send(spec(name, epochs))),
    );
    responses.forEach((response, i) => {
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      expect(response.body.spec.name).toBe(submissions[i]!.name);
      expect(response.body.spec.epochs).toBe(submissions[i]!.epochs);
    });
    const ids = responses.map((response) => response.body.id as string);
    expect(new Set(ids).size).toBe(120);

    const rows = await harness.services.prisma.$queryRawUnsafe<{ id: string; project: string; name: string; events: string; lastSeq: number }[]>(
      `SELECT j.id::text AS id, p.name AS project, j.spec->>'name' AS name, j.last_seq AS "lastSeq",
        (SELECT string_agg(e.seq || ':' || e.type, ',' ORDER BY e.seq) FROM job_events e WHERE e.job_id = j.id) AS events
      FROM jobs j JOIN projects p ON p.id = j.project_id`,
    );
    expect(rows).toHaveLength(120);
    const byId = new Map(rows.map((row) => [row.id, row]));
    ids.forEach((id, i) => {
      const row = byId.get(id)!;
      expect(row.project).toBe(`batch-${'ab'[submissions[i]!.project]}`);
      expect(row.name).toBe(submissions[i]!.name);
      const advised = responses[i]!.body.advice.length > 0;
      expect(row.events).toBe(advised ? '1:status,2:advice' : '1:status');
      expect(row.lastSeq).toBe(advised ? 2 : 1);
    });
    expect(rows.some((row) => row.lastSeq === 2)).toBe(true);

    const queued = await harness.services.queues.any.getJobs(['prioritized', 'waiting']);
    expect(queued.map((job) => job.id).sort()).toEqual([...ids].sort());

    // Each project sees its own 60 and none of the other's.
    for (const [p, { authorization }] of projects.entries()) {
      const list = await request(harness.app.server).get('/v1/jobs?limit=100').set('authorization', authorization);
      expect(list.body.data).toHaveLength(60);
      const other = ids.find((_, i) => submissions[i]!.project !== p)!;
      expect((await request(harness.app.server).get(`/v1/jobs/${other}`).set('authorization', authorization)).status).toBe(404);
    }
  });

  it('writes creations made in the same tick as one batch, each row with its own project, spec and advice', async () => {
    const { services } = harness;
    const projectIds = await Promise.all(['batch-a', 'batch-c'].map(async (name) => (await harness.apiKey(name), (await services.prisma.project.findFirst({ where: { name } }))!.id)));
    const prepared = await Promise.all(
      Array.from({ length: 30 }, (_, i) => services.jobs.prepare(projectIds[i % 2]!, jobSpecSchema.parse(spec(`same tick ${i}`, i % 5 === 0 ? 5000 : 3)))),
    );
    // No await between the calls: the first goes alone, the rest wait for it and go together.
    const created = await Promise.all(prepared.map(({ resolved, advice }, i) => services.store.create(projectIds[i % 2]!, resolved, 4, advice)));
    created.forEach(({ job, events }, i) => {
      expect(job.projectId).toBe(projectIds[i % 2]);
      expect(job.spec.name).toBe(`same tick ${i}`);
      expect(events.map((event) => event.type)).toEqual(prepared[i]!.advice.length > 0 ? ['status', 'advice'] : ['status']);
    });
    const stored = await services.prisma.job.findMany({ where: { id: { in: created.map(({ job }) => job.id) } }, select: { id: true, projectId: true } });
    expect(new Map(stored.map((row) => [row.id, row.projectId]))).toEqual(new Map(created.map(({ job }, i) => [job.id, projectIds[i % 2]])));
  });
});

