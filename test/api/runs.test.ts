import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('runs', { TRAINYARD_BACKEND: 'wasm' });
  await harness.startWorker();
});
afterAll(async () => harness?.close());

describe('GET /v1/runs', () => {
  it('gives each job its last epoch, best and test metrics, duration and speed, read back from the database', async () => {
    const { body: job } = await request(harness.app.server).post('/v1/jobs').send(tinyIrisSpec({ epochs: 4, testSplit: 0.2 })).expect(201);
    const { body: waiting } = await request(harness.app.server).post('/v1/jobs').send(tinyIrisSpec({ name: 'paused', epochs: 4 })).expect(201);
    await request(harness.app.server).post(`/v1/jobs/${waiting.id}/pause`).expect(200);
    await waitFor('the job to succeed', async () => (await request(harness.app.server).get(`/v1/jobs/${job.id}`)).body.status === 'succeeded', 60_000, 100);

    const { body: page } = await request(harness.app.server).get('/v1/runs?limit=10').expect(200);
    expect(page.data.map((run: { id: string }) => run.id)).toEqual([waiting.id, job.id]);
    const [idle, done] = page.data;
    expect(idle.summary).toEqual({ lastEpoch: null, final: {}, best: {}, test: {}, durationMs: null, samplesPerSecond: null });

    const { body: metrics } = await request(harness.app.server).get(`/v1/jobs/${job.id}/metrics?scope=epoch`).expect(200);
    const epochs = metrics.data.map((m: { values: Record<string, number> }) => m.values);
    expect(done.summary.lastEpoch).toBe(4);
    expect(done.summary.final).toEqual(epochs.at(-1));
    expect(done.summary.best.loss).toBe(Math.min(...epochs.map((v: Record<string, number>) => v.loss!)));
    expect(done.summary.best.val_accuracy).toBe(Math.max(...epochs.map((v: Record<string, number>) => v.val_accuracy!)));
    expect(done.summary.best).not.toHaveProperty('learning_rate');
    expect(Object.keys(done.summary.test).sort()).toEqual(['test_accuracy', 'test_loss']);
    expect(done.summary.durationMs).toBeGreaterThan(0);
    expect(done.summary.samplesPerSecond).toBeGreaterThan(0);
    expect(done.spec.learningRate).toBe(0.05);
  });
});
