import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

let harness: Harness;
beforeAll(async () => {
  // The training processes inherit this: a thread of each fresh (not resumed) distributed run fails at step 10.
  process.env.TRAINYARD_TEST_FAULTS = JSON.stringify({ crash: { thread: 1, atStep: 10 } });
  harness = await startHarness('apidistfault', { TRAINYARD_BACKEND: 'wasm', TRAINING_THREADS: '2' });
  await harness.startWorker();
});
afterAll(async () => {
  delete process.env.TRAINYARD_TEST_FAULTS;
  await harness?.close();
});

const api = () => request(harness.app.server);

describe('a distributed job that loses a training thread', () => {
  it('goes back to the queue and resumes from its last checkpoint (sync needs both threads)', async () => {
    // 120 training rows, 2 threads × batch 8: 8 steps an epoch, so step 10 is in epoch 2, after a checkpoint.
    const created = await api().post('/v1/jobs').send(tinyIrisSpec({ epochs: 3, batchSize: 8, distributed: { strategy: 'sync', workers: 2 } }));
    expect(created.status).toBe(201);
    const done = await waitFor('the job', async () => {
      const job = (await api().get(`/v1/jobs/${created.body.id}`)).body;
      return ['succeeded', 'failed'].includes(job.status) && job;
    });
    expect(done.status, done.failureReason).toBe('succeeded');
    expect(done.attempts).toBe(2);
    const events = (await api().get(`/v1/jobs/${created.body.id}/events`)).body.data as { type: string; data: Record<string, unknown> }[];
    expect(events.find((e) => e.type === 'threadFailed')?.data).toMatchObject({ thread: 1, remaining: 1, strategy: 'sync' });
    expect(events.find((e) => e.type === 'status' && e.data.status === 'queued' && String(e.data.reason).includes('resumes from its last checkpoint'))).toBeDefined();
    expect(events.find((e) => e.type === 'resumed')?.data).toMatchObject({ fromEpoch: 1 });
    const epochs = (await api().get(`/v1/jobs/${created.body.id}/metrics?scope=epoch`)).body.data;
    expect(epochs.map((m: { epoch: number }) => m.epoch)).toEqual([1, 2, 3]);
  });
});
