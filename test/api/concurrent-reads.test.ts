import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobStatus } from '../../src/jobs/job-types.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * Concurrent job reads and pages are answered by one statement per batch (JobStore.getWithSlots
 * and listWithSlots on src/infra/batcher.ts). A batch mixes projects, ids, cursors and filters:
 * each answer must be exactly the one its request gets alone, and never another project's job.
 */

let harness: Harness;
beforeAll(async () => {
  // No worker: the jobs stay queued.
  harness = await startHarness('concurrentreads', { AUTH_MODE: 'required', RATE_LIMIT_MAX: '100000' });
});
afterAll(async () => harness?.close());

// A problem's requestId is the request's own.
const withoutRequestId = ({ requestId: _requestId, ...body }: Record<string, unknown>) => body;

const spec = (name: string) => ({ name, dataset: { name: 'iris' }, model: { layers: [{ type: 'dense', units: 3 }] }, epochs: 2 });

describe('concurrent reads', () => {
  it('answer each request of a mixed batch as it is answered alone, per project', async () => {
    const keys = { a: await harness.apiKey('reads-a'), b: await harness.apiKey('reads-b'), empty: await harness.apiKey('reads-empty') };
    const ids: Record<'a' | 'b', string[]> = { a: [], b: [] };
    for (const project of ['a', 'b'] as const) {
      for (let i = 0; i < 12; i++) {
        const response = await request(harness.app.server).post('/v1/jobs').set('authorization', keys[project].authorization).send(spec(`${project}${i}`));
        expect(response.status).toBe(201);
        ids[project].push(response.body.id);
      }
    }
    // Project a is full (one job of its one slot training), so its queued jobs wait for a reason; b's do not.
    await harness.services.prisma.$executeRawUnsafe(`UPDATE projects SET max_running_jobs = 1 WHERE name = 'reads-a'`);
    await harness.services.prisma.$executeRawUnsafe(
      `UPDATE jobs SET status = 'running', lease_owner = 'test', lease_expires_at = now() + interval '1 hour' WHERE id = $1::uuid`,
      ids.a[0],
    );
    await harness.services.prisma.$executeRawUnsafe(`UPDATE jobs SET status = 'cancelled', finished_at = now() WHERE id = $1::uuid`, ids.b[3]);

    const unknown = '01a00000-0000-7000-8000-000000000000';
    const gets = [
      ...ids.a.map((id) => ({ key: 'a' as const, id })),
      ...ids.b.map((id) => ({ key: 'b' as const, id })),
      // Another project's jobs, and one that does not exist, in the same batches.
      ...ids.b.map((id) => ({ key: 'a' as const, id })),
      ...ids.a.map((id) => ({ key: 'empty' as const, id })),
      { key: 'b' as const, id: unknown },
    ];
    const pages = [
      ...(['a', 'b', 'empty'] as const).flatMap((key) => [
        { key, query: 'limit=5' },
        { key, query: 'limit=100' },
        { key, query: 'limit=3&status=queued' },
        { key, query: 'limit=4&status=running,cancelled' },
        { key, query: `limit=5&after=${ids.a[7]}` },
        { key, query: `limit=2&after=${ids.b[7]}&status=queued` },
      ]),
    ];
    const read = (key: keyof typeof keys, url: string) => request(harness.app.server).get(url).set('authorization', keys[key].authorization);
    const alone = async () => ({
      gets: await gets.reduce(async (done, { key, id }) => [...(await done), await read(key, `/v1/jobs/${id}`)], Promise.resolve([] as request.Response[])),
      pages: await pages.reduce(async (done, { key, query }) => [...(await done), await read(key, `/v1/jobs?${query}`)], Promise.resolve([] as request.Response[])),
    });
    const expected = await alone();
    // Sanity of the answers alone: what the batches are held to.
    expected.gets.forEach((response, i) => {
      const { key, id } = gets[i]!;
      const own = key !== 'empty' && id !== unknown && ids[key].includes(id);
      expect(response.status, `${key} GET ${id}`).toBe(own ? 200 : 404);
      if (own) expect(response.body.id).toBe(id);
    });
    expect(expected.gets[1]!.body.waitingReason).toMatch(/reads-a is training 1 of the 1 jobs/);
    expect(expected.gets[13]!.body.waitingReason).toBeNull();
    expect(expected.pages[1]!.body.data).toHaveLength(12);
    expect(expected.pages[6 + 3]!.body.data.map((job: { id: string }) => job.id)).toEqual([ids.b[3]]);
    expect(expected.pages[12 + 1]!.body.data).toEqual([]);
    const idsOf = (response: request.Response) => response.body.data.map((job: { id: string }) => job.id);
    expect(idsOf(expected.pages[3]!)).toEqual([ids.a[0]]);
    expect(idsOf(expected.pages[4]!)).toEqual(ids.a.slice(2, 7).reverse());
    expect(idsOf(expected.pages[6 + 5]!)).toEqual(ids.b.slice(4, 7).reverse().filter((id) => id !== ids.b[3]).slice(0, 2));

    for (let round = 0; round < 3; round++) {
      const order = [...gets.map((get, i) => ({ kind: 'get' as const, i })), ...pages.map((page, i) => ({ kind: 'page' as const, i }))].sort(
        (x, y) => ((x.i * 7 + round * 13) % 17) - ((y.i * 7 + round * 13) % 17),
      );
      const answers = await Promise.all(
        order.map(async ({ kind, i }) => {
          const response = kind === 'get' ? await read(gets[i]!.key, `/v1/jobs/${gets[i]!.id}`) : await read(pages[i]!.key, `/v1/jobs?${pages[i]!.query}`);
          return { kind, i, response };
        }),
      );
      for (const { kind, i, response } of answers) {
        const wanted = kind === 'get' ? expected.gets[i]! : expected.pages[i]!;
        const label = kind === 'get' ? `${gets[i]!.key} GET ${gets[i]!.id}` : `${pages[i]!.key} ?${pages[i]!.query}`;
        expect(response.status, label).toBe(wanted.status);
        expect(withoutRequestId(response.body), label).toEqual(withoutRequestId(wanted.body));
      }
    }

    // Calls made in one turn are certain to share batches (HTTP requests may or may not meet).
    const projectIds = Object.fromEntries(
      (await harness.services.prisma.project.findMany({ where: { name: { startsWith: 'reads-' } } })).map((project) => [project.name.slice('reads-'.length), project.id]),
    ) as Record<keyof typeof keys, string>;
    const { store } = harness.services;
    const limit = harness.config.PROJECT_MAX_RUNNING_JOBS;
    const getAlone = [];
    for (const { key, id } of gets) getAlone.push(await store.getWithSlots(id, projectIds[key], limit));
    const pageQueries = pages.map(({ key, query }) => {
      const params = new URLSearchParams(query);
      return { projectId: projectIds[key], limit: Number(params.get('limit')), after: params.get('after') ?? undefined, status: params.get('status')?.split(',') as JobStatus[] | undefined };
    });
    const pageAlone = [];
    for (const query of pageQueries) pageAlone.push(await store.listWithSlots(query, limit));
    const batched = await Promise.all([...gets.map(({ key, id }) => store.getWithSlots(id, projectIds[key], limit)), ...pageQueries.map((query) => store.listWithSlots(query, limit))]);
    expect(batched.slice(0, gets.length)).toEqual(getAlone);
    expect(batched.slice(gets.length)).toEqual(pageAlone);
  });

  it("show each job's own spec when this process has never seen it (recorded by another process)", async () => {
    const key = await harness.apiKey('reads-other');
    const submitted = await request(harness.app.server).post('/v1/jobs').set('authorization', key.authorization).send(spec('seen'));
    expect(submitted.status).toBe(201);
    // Rows another API process recorded: specs this process has not read, each with its own name and epochs.
    await harness.services.prisma.$executeRawUnsafe(
      `INSERT INTO jobs (id, project_id, status, spec, last_seq, progress, created_at, updated_at)
       SELECT gen_random_uuid(), project_id, 'queued', jsonb_set(jsonb_set(spec, '{name}', to_jsonb('other' || g)), '{epochs}', to_jsonb(g)), 0, 0, now(), now()
       FROM jobs, generate_series(1, 30) AS g WHERE id = $1::uuid`,
      submitted.body.id,
    );
    const rows = await harness.services.prisma.$queryRawUnsafe<{ id: string; name: string; epochs: number }[]>(
      `SELECT id::text, spec->>'name' AS name, (spec->>'epochs')::int AS epochs FROM jobs WHERE project_id = (SELECT project_id FROM jobs WHERE id = $1::uuid)`,
      submitted.body.id,
    );
    expect(rows).toHaveLength(31);
    const wanted = new Map(rows.map((row) => [row.id, { name: row.name, epochs: row.epochs }]));
    const read = (url: string) => request(harness.app.server).get(url).set('authorization', key.authorization);
    // Some read alone, then the rest together with pages over all of them: cached and unseen specs in the same batches.
    const ids = [...wanted.keys()];
    for (const id of ids.slice(0, 3)) expect((await read(`/v1/jobs/${id}`)).body.spec).toMatchObject(wanted.get(id)!);
    const [pages, gets] = await Promise.all([Promise.all(['limit=7', 'limit=100', `limit=5&after=${ids[20]}`].map((query) => read(`/v1/jobs?${query}`))), Promise.all(ids.map((id) => read(`/v1/jobs/${id}`)))]);
    for (const response of gets) {
      expect(response.status).toBe(200);
      expect({ name: response.body.spec.name, epochs: response.body.spec.epochs, jobName: response.body.name }).toEqual({ ...wanted.get(response.body.id)!, jobName: wanted.get(response.body.id)!.name });
    }
    expect(pages[1]!.body.data).toHaveLength(31);
    for (const page of pages) for (const job of page.body.data) expect({ name: job.spec.name, epochs: job.spec.epochs }).toEqual(wanted.get(job.id));
    // A resolved spec as the submission answered it, every default filled in.
    expect(gets.find((response) => response.body.id === submitted.body.id)!.body.spec).toEqual(submitted.body.spec);
  });
});
