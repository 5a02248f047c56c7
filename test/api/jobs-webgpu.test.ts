import { existsSync } from 'node:fs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

// As test/engine/webgpu.test.ts: Mesa's llvmpipe through Dawn's OpenGL backend, installed by .ci/run.
const haveMesa = existsSync('/usr/lib/x86_64-linux-gnu/libEGL_mesa.so.0');

describe.skipIf(!haveMesa && !process.env.CI)('the service on a webgpu worker', () => {
  let harness: Harness;
  const api = () => request(harness.app.server);
  const finished = (id: string) =>
    waitFor(`job ${id}`, async () => {
      const job = (await api().get(`/v1/jobs/${id}`)).body;
      return ['succeeded', 'failed'].includes(job.status) && job;
    });

  beforeAll(async () => {
    harness = await startHarness('webgpu', { TRAINYARD_BACKEND: 'webgpu', WEBGPU_BACKEND: 'opengl' });
    await harness.startWorker();
  }, 120_000);
  afterAll(async () => harness?.close());

  it('trains a job end to end and records the adapter on it', async () => {
    const { body } = await api().post('/v1/jobs').send(tinyIrisSpec({ epochs: 3 }));
    const job = await finished(body.id);
    expect(job).toMatchObject({ status: 'succeeded', backend: 'webgpu' });
    expect(job.device).toMatch(/^CPU \(WebGPU through Dawn opengl on llvmpipe.*, a software adapter\)$/);
    const events = (await api().get(`/v1/jobs/${body.id}/events`)).body.data as { type: string; data: Record<string, unknown> }[];
    const started = events.find((event) => event.type === 'started')!;
    expect(started.data.adapter).toMatchObject({ backend: 'opengl', software: true, limits: { maxBufferSize: expect.any(Number) } });
    const metrics = (await api().get(`/v1/jobs/${body.id}/metrics?scope=epoch`)).body.data as { values: { loss: number } }[];
    expect(metrics).toHaveLength(3);
    expect(metrics[2]!.values.loss).toBeLessThan(metrics[0]!.values.loss);
  });

  it('a software adapter makes a CPU-class worker: GPU jobs are not its to take', async () => {
    const workers = (await api().get('/v1/workers')).body.data as { backend: string; deviceClass: string }[];
    expect(workers).toEqual([expect.objectContaining({ backend: 'webgpu', deviceClass: 'cpu' })]);
    const gpuJob = (await api().post('/v1/jobs').send(tinyIrisSpec({ resources: { device: 'gpu' } }))).body;
    expect(gpuJob.waitingReason).toContain('no GPU worker is running');
    await api().post(`/v1/jobs/${gpuJob.id}/cancel`);
  });

  it('fails a distributed job with a reason the user can act on', async () => {
    const { body } = await api()
      .post('/v1/jobs')
      .send(tinyIrisSpec({ distributed: { strategy: 'async', workers: 2 } }));
    const job = await finished(body.id);
    expect(job.status).toBe('failed');
    expect(job.failureReason).toContain('distributed training threads run on the CPU backends, and this worker trains on webgpu');
  });
});
