import * as tf from '@tensorflow/tfjs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('actions', { TRAINYARD_BACKEND: 'wasm' });
  await harness.startWorker();
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);
const job = async (id: string) => (await api().get(`/v1/jobs/${id}`)).body as { status: string; attempts: number; failureReason: string | null; progress: number };
const events = async (id: string) => (await api().get(`/v1/jobs/${id}/events?limit=1000`)).body.data as { seq: number; type: string; data: Record<string, unknown> }[];
const longSpec = (overrides = {}) => tinyIrisSpec({ epochs: 200, batchSize: 8, logEveryBatches: 15, ...overrides });

async function submit(spec: object): Promise<string> {
  const response = await api().post('/v1/jobs').send(spec);
  expect(response.status).toBe(201);
  return response.body.id;
}

const settled = (id: string, statuses: string[]) =>
  waitFor(`job ${id} to reach ${statuses.join('/')}`, async () => {
    const current = await job(id);
    return statuses.includes(current.status) && current;
  });

describe('cancel', () => {
  it('stops a running job within a batch and never leaves it cancelling', async () => {
    const id = await submit(longSpec());
    await waitFor('progress', async () => (await job(id)).progress > 0.02);
    const response = await api().post(`/v1/jobs/${id}/cancel`);
    expect(response.status).toBe(202);
    expect(response.body.status).toBe('cancelling');
    const requested = Date.now();
    await settled(id, ['cancelled']);
    expect(Date.now() - requested).toBeLessThan(5_000);
    const log = await events(id);
    expect(log.filter((e) => e.type === 'status').map((e) => e.data.status)).toEqual(['queued', 'running', 'cancelling', 'cancelled']);
    // Nothing trained after the cancel landed.
    expect(log.at(-1)).toMatchObject({ type: 'status', data: { status: 'cancelled' } });
  });

  it('is 409 with the current status for a finished job', async () => {
    const id = await submit(tinyIrisSpec());
    await settled(id, ['succeeded']);
    const response = await api().post(`/v1/jobs/${id}/cancel`);
    expect(response.status).toBe(409);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.body).toMatchObject({ status: 409, currentStatus: 'succeeded', detail: expect.stringContaining('it is succeeded') });
  });

  it('is 404 for an unknown job', async () => {
    expect((await api().post('/v1/jobs/0193a1b2-0000-7000-8000-000000000000/cancel')).status).toBe(404);
  });
});

describe('pause and resume', () => {
  it('pause writes a checkpoint and frees the worker; resume continues from it to the same end', async () => {
    const id = await submit(longSpec({ epochs: 60 }));
    await waitFor('progress', async () => (await job(id)).progress > 0.1);
    expect((await api().post(`/v1/jobs/${id}/pause`)).status).toBe(202);
    await settled(id, ['paused']);
    const checkpoints = (await api().get(`/v1/jobs/${id}/checkpoints`)).body.data as { reason: string; step: number; epoch: number }[];
    const pausedAt = checkpoints.find((c) => c.reason === 'pause');
    expect(pausedAt).toBeDefined();

    // The worker is free: another job runs to the end while this one is paused.
    const other = await submit(tinyIrisSpec());
    await settled(other, ['succeeded']);
    expect((await job(id)).status).toBe('paused');

    expect((await api().post(`/v1/jobs/${id}/resume`)).status).toBe(200);
    const done = await settled(id, ['succeeded', 'failed']);
    expect(done.status).toBe('succeeded');
    expect(done.attempts).toBe(2);
    const log = await events(id);
    expect(log.find((e) => e.type === 'resumed')?.data).toMatchObject({ fromStep: pausedAt!.step, reason: 'pause' });
    const epochs = (await api().get(`/v1/jobs/${id}/metrics?scope=epoch&limit=10000`)).body.data as { epoch: number }[];
    expect(epochs.map((m) => m.epoch)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });

  it('a queued job can be paused and resumed; resuming a job that is not paused is 409', async () => {
    await harness.services.queues.any.pause();
    try {
      const id = await submit(tinyIrisSpec());
      expect((await api().post(`/v1/jobs/${id}/resume`)).status).toBe(409);
      const paused = await api().post(`/v1/jobs/${id}/pause`);
      expect(paused.status).toBe(200);
      expect(paused.body.status).toBe('paused');
      expect(await harness.services.queues.any.getJobState(id)).toBe('unknown');
      const resumed = await api().post(`/v1/jobs/${id}/resume`);
      expect(resumed.body.status).toBe('queued');
      expect(await harness.services.queues.any.getJobState(id)).toBe('prioritized');
      const cancelled = await api().post(`/v1/jobs/${id}/cancel`);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.status).toBe('cancelled');
      expect(await harness.services.queues.any.getJobState(id)).toBe('unknown');
    } finally {
      await harness.services.queues.any.resume();
    }
  });
});

describe('priorities', () => {
  it('runs a more urgent job (lower priority number) first', async () => {
    await harness.services.queues.any.pause();
    let low: string;
    let high: string;
    try {
      low = await submit(tinyIrisSpec({ priority: 500 }));
      high = await submit(tinyIrisSpec({ priority: 1 }));
    } finally {
      await harness.services.queues.any.resume();
    }
    const [lowDone, highDone] = await Promise.all([settled(low!, ['succeeded']), settled(high!, ['succeeded'])]);
    const started = async (id: string) => Date.parse((await api().get(`/v1/jobs/${id}`)).body.startedAt);
    expect(lowDone.status).toBe('succeeded');
    expect(highDone.status).toBe('succeeded');
    expect(await started(high!)).toBeLessThan(await started(low!));
  });
});

describe('checkpoints and models', () => {
  it('keeps the newest k plus the best and the final one, and serves them in TF.js format', async () => {
    const id = await submit(tinyIrisSpec({ epochs: 8, checkpoint: { everyEpochs: 1, keep: 2 } }));
    await settled(id, ['succeeded']);
    const list = (await api().get(`/v1/jobs/${id}/checkpoints`)).body.data as {
      id: string;
      epoch: number;
      reason: string;
      isBest: boolean;
      sizeBytes: number;
      sha256: string;
      links: { modelJson: string; weights: string };
    }[];
    expect(list.at(-1)).toMatchObject({ epoch: 8, reason: 'final' });
    expect(list.filter((c) => c.isBest)).toHaveLength(1);
    const expected = new Set([...list.slice(-2).map((c) => c.id), ...list.filter((c) => c.isBest).map((c) => c.id)]);
    expect(new Set(list.map((c) => c.id))).toEqual(expected);
    for (const checkpoint of list) {
      expect(checkpoint.sizeBytes).toBeGreaterThan(0);
      expect(checkpoint.sha256).toMatch(/^[0-9a-f]{64}$/);
    }

    const final = await tf.loadLayersModel(`${harness.baseUrl}/v1/jobs/${id}/model/model.json`);
    const prediction = final.predict(tf.tensor2d([[5.1, 3.5, 1.4, 0.2]])) as tf.Tensor;
    expect(prediction.shape).toEqual([1, 3]);
    const best = list.find((c) => c.isBest)!;
    const bestModel = await tf.loadLayersModel(`${harness.baseUrl}${best.links.modelJson}`);
    expect(bestModel.layers.map((l) => l.getClassName())).toEqual(['Dense', 'Dense']);
    tf.dispose([prediction]);
    final.dispose();
    bestModel.dispose();
  });

  it('404s a model that does not exist yet and an unknown checkpoint', async () => {
    await harness.services.queues.any.pause();
    try {
      const id = await submit(tinyIrisSpec());
      const model = await api().get(`/v1/jobs/${id}/model/model.json`);
      expect(model.status).toBe(404);
      expect(model.body.detail).toContain('status queued');
      expect((await api().get(`/v1/jobs/${id}/checkpoints/0193a1b2-0000-7000-8000-000000000000/model.json`)).status).toBe(404);
      expect((await api().get(`/v1/jobs/${id}/model/optimizer.bin`)).status).toBe(400);
      await api().post(`/v1/jobs/${id}/cancel`);
    } finally {
      await harness.services.queues.any.resume();
    }
  });
});

describe('time limit', () => {
  it('checkpoints and fails a job that trains longer than maxRuntimeSeconds', async () => {
    const id = await submit(longSpec({ maxRuntimeSeconds: 1 }));
    const failed = await settled(id, ['failed', 'succeeded']);
    expect(failed.status).toBe('failed');
    expect(failed.failureReason).toMatch(/exceeded maxRuntimeSeconds \(1 s of training\); a checkpoint was written/);
    const checkpoints = (await api().get(`/v1/jobs/${id}/checkpoints`)).body.data as { reason: string }[];
    expect(checkpoints.at(-1)?.reason).toBe('timeout');
  });
});
