import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SelectedBackend } from '../../src/engine/backend.js';
import type { TrainingWorker } from '../../src/worker/training-worker.js';
import { deviceClassOf } from '../../src/worker/training-worker.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

// Real worker processes train here: minutes on a busy two-core machine.
vi.setConfig({ testTimeout: 180_000 });

interface JobBody {
  id: string;
  status: string;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  waitingReason: string | null;
}

let harness: Harness;
let cpuWorker: TrainingWorker;
const api = () => request(harness.app.server);
const submit = async (device: 'any' | 'cpu' | 'gpu', epochs = 3) => (await api().post('/v1/jobs').send(tinyIrisSpec({ epochs, resources: { device } }))).body as JobBody;
const get = async (id: string) => (await api().get(`/v1/jobs/${id}`)).body as JobBody;
const finished = (id: string) =>
  waitFor(`job ${id}`, async () => {
    const job = await get(id);
    return ['succeeded', 'failed'].includes(job.status) && job;
  });

beforeAll(async () => {
  harness = await startHarness('devices', { TRAINYARD_BACKEND: 'wasm', WORKER_HEARTBEAT_MS: '200' });
  cpuWorker = await harness.startWorker({ WORKER_DEVICE: 'cpu' });
});
afterAll(async () => harness?.close());

describe('resources.device', () => {
  it('is echoed with its default, and an unknown device is a 400 naming the field', async () => {
    const job = (await api().post('/v1/jobs').send(tinyIrisSpec({ epochs: 1 }))).body;
    expect(job.spec.resources).toEqual({ device: 'any' });
    const bad = await api().post('/v1/jobs').send(tinyIrisSpec({ resources: { device: 'tpu' as 'gpu' } }));
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].field).toBe('resources.device');
    await finished(job.id);
  });

  it('a GPU job waits in its own queue while only CPU workers run, and says so; CPU and any jobs run', async () => {
    const gpuJob = await submit('gpu');
    expect(gpuJob.status).toBe('queued');
    expect(gpuJob.waitingReason).toBe('no GPU worker is running (none has been seen); the job stays queued until one starts');
    expect(await harness.services.queues.byDevice.gpu.getJobState(gpuJob.id)).toBe('prioritized');

    const [cpuJob, anyJob] = [await submit('cpu'), await submit('any')];
    expect((await finished(cpuJob.id)).status).toBe('succeeded');
    expect((await finished(anyJob.id)).status).toBe('succeeded');
    const waiting = await get(gpuJob.id);
    expect(waiting).toMatchObject({ status: 'queued', attempts: 0 });
    expect(waiting.waitingReason).toContain('no GPU worker is running');

    const workers = (await api().get('/v1/workers')).body.data as { deviceClass: string; queues: string[] }[];
    expect(workers).toEqual([expect.objectContaining({ deviceClass: 'cpu', queues: ['training-cpu', 'training'] })]);
  });

  it('a GPU worker takes the waiting GPU job; once it is gone the next one waits, naming when it was last seen', async () => {
    const waiting = (await api().get('/v1/jobs?status=queued')).body.data as JobBody[];
    expect(waiting).toHaveLength(1);
    const gpuWorker = await harness.startWorker({ WORKER_DEVICE: 'gpu' });
    expect((await finished(waiting[0]!.id)).status).toBe('succeeded');
    const workers = (await api().get('/v1/workers')).body.data as { deviceClass: string; queues: string[] }[];
    expect(workers.map((worker) => worker.deviceClass).sort()).toEqual(['cpu', 'gpu']);
    expect(workers.find((worker) => worker.deviceClass === 'gpu')!.queues).toEqual(['training-gpu', 'training']);

    await gpuWorker.close();
    const next = await submit('gpu');
    expect(next.waitingReason).toMatch(/^no GPU worker is running \(the last one was seen at \d{4}-\d\d-\d\dT[\d:.]+Z\); the job stays queued until one starts$/);
    await api().post(`/v1/jobs/${next.id}/cancel`);
  });

  it('a worker serving two queues never runs more jobs than WORKER_CONCURRENCY', async () => {
    const jobs = [await submit('cpu', 30), await submit('any', 30), await submit('cpu', 30), await submit('any', 30)];
    const done = await Promise.all(jobs.map((job) => finished(job.id)));
    expect(done.every((job) => job.status === 'succeeded')).toBe(true);
    const spans = done.map((job) => [Date.parse(job.startedAt!), Date.parse(job.finishedAt!)] as const).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i += 1) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    expect(cpuWorker).toBeDefined();
  });
});

describe('a worker\'s device class', () => {
  it('is the configured one, or on auto the GPU when its backend runs on one', () => {
    const gpu: SelectedBackend = { name: 'tensorflow', device: 'GPU (CUDA through libtensorflow, tfjs-node-gpu)', skipped: [] };
    const cpu: SelectedBackend = { name: 'tensorflow', device: 'CPU (libtensorflow, tfjs-node)', skipped: [] };
    const wasm: SelectedBackend = { name: 'wasm', device: 'CPU (WebAssembly, SIMD)', skipped: [] };
    expect(deviceClassOf('auto', gpu)).toBe('gpu');
    expect(deviceClassOf('auto', cpu)).toBe('cpu');
    expect(deviceClassOf('auto', wasm)).toBe('cpu');
    expect(deviceClassOf('cpu', gpu)).toBe('cpu');
    expect(deviceClassOf('gpu', wasm)).toBe('gpu');
    const adapter = { backend: 'vulkan', vendor: 'nvidia', architecture: 'hopper', limits: {} };
    const hardware: SelectedBackend = { name: 'webgpu', device: 'GPU (WebGPU through Dawn vulkan: NVIDIA H100)', skipped: [], adapter: { ...adapter, name: 'NVIDIA H100', software: false } };
    const llvmpipe: SelectedBackend = { name: 'webgpu', device: 'CPU (…)', skipped: [], adapter: { ...adapter, name: 'llvmpipe', software: true } };
    expect(deviceClassOf('auto', hardware)).toBe('gpu');
    expect(deviceClassOf('auto', llvmpipe)).toBe('cpu');
  });
});
