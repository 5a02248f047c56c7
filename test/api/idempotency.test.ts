import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PROJECT } from '../../src/projects/default-project.js';
import { startHarness, type Harness } from '../support/harness.js';
import { IDEMPOTENCY_KEY_TTL_MS, IdempotencyStore } from '../../src/idempotency/idempotency-store.js';
import { tinyIrisSpec } from '../support/specs.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('idempotency');
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);

describe('Idempotency-Key', () => {
  it('on POST /v1/jobs: a retry gets the first job back, never a second one', async () => {
    const first = await api().post('/v1/jobs').set('idempotency-key', 'submit-1').send(tinyIrisSpec());
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBe('false');
    const retries = await Promise.all([1, 2, 3].map(() => api().post('/v1/jobs').set('idempotency-key', 'submit-1').send(tinyIrisSpec())));
    for (const retry of retries) {
      expect(retry.status).toBe(201);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(retry.body.id).toBe(first.body.id);
    }
    expect((await api().get('/v1/jobs')).body.data).toHaveLength(1);
  });

  it('refuses the same key for another request (422) and lets a failed request be retried', async () => {
    await api().post('/v1/jobs').set('idempotency-key', 'submit-2').send(tinyIrisSpec());
    const other = await api().post('/v1/jobs').set('idempotency-key', 'submit-2').send(tinyIrisSpec({ epochs: 7 }));
    expect(other.status).toBe(422);
    expect(other.body.detail).toContain('already used for a different POST /v1/jobs request');
    // A spec the service refuses keeps no claim on the key.
    const refused = await api().post('/v1/jobs').set('idempotency-key', 'submit-3').send(tinyIrisSpec({ dataset: { name: 'upload', id: '0193a1b2-0000-7000-8000-000000000000' } }));
    expect(refused.status).toBe(400);
    // Released, the key runs the request again (a kept claim would answer 409 "still in progress").
    const fixed = await api().post('/v1/jobs').set('idempotency-key', 'submit-3').send(tinyIrisSpec({ dataset: { name: 'upload', id: '0193a1b2-0000-7000-8000-000000000000' } }));
    expect(fixed.status).toBe(400);
    expect((await api().post('/v1/jobs').set('idempotency-key', 'x'.repeat(300)).send(tinyIrisSpec())).status).toBe(400);
  });

  it('on POST /v1/datasets: a retry gets the first upload back without storing anything again', async () => {
    const csv = 'a,b,label\n1,2,x\n3,4,y\n5,6,x\n';
    const upload = (body: string) => api().post('/v1/datasets?name=keyed').set('content-type', 'text/csv').set('idempotency-key', 'upload-1').send(body);
    const first = await upload(csv);
    expect(first.status).toBe(201);
    const retry = await upload(`${csv}7,8,y\n`);
    expect(retry.status).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body.id).toBe(first.body.id);
    expect((await api().get('/v1/datasets')).body.uploaded).toHaveLength(1);
  });

  it('keys are forgotten after a day, so a late retry is a new request', async () => {
    const first = await api().post('/v1/jobs').set('idempotency-key', 'old-1').send(tinyIrisSpec());
    await harness.services.prisma.idempotencyKey.update({
      where: { projectId_scope_key: { projectId: DEFAULT_PROJECT.id, scope: 'POST /v1/jobs', key: 'old-1' } },
      data: { createdAt: new Date(Date.now() - IDEMPOTENCY_KEY_TTL_MS - 1000) },
    });
    expect(await new IdempotencyStore(harness.services.prisma).prune(IDEMPOTENCY_KEY_TTL_MS)).toBe(1);
    const late = await api().post('/v1/jobs').set('idempotency-key', 'old-1').send(tinyIrisSpec());
    expect(late.headers['idempotent-replayed']).toBe('false');
    expect(late.body.id).not.toBe(first.body.id);
  });
});
