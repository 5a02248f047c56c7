import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('metrics', { TRAINYARD_BACKEND: 'wasm', WORKER_HEARTBEAT_MS: '200' });
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);
/** The value of one series in the Prometheus text format, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('operations', () => {
  it('GET /v1/workers shows a worker while its heartbeat is current, with what it runs', async () => {
    expect((await api().get('/v1/workers')).body.data).toEqual([]);
    const worker = await harness.startWorker();
    const { body } = await api().get('/v1/workers');
    expect(body.data).toHaveLength(1);
    expect(body.data[0]).toMatchObject({ backend: 'wasm', concurrency: 1, runningJobs: [], pid: process.pid });
    const job = await api().post('/v1/jobs').send(tinyIrisSpec({ epochs: 200, batchSize: 8 }));
    await waitFor('the worker to say it runs the job', async () => (await api().get('/v1/workers')).body.data[0]?.runningJobs.includes(job.body.id));
    await api().post(`/v1/jobs/${job.body.id}/cancel`).send({});
    await worker.close();
    expect((await api().get('/v1/workers')).body.data).toEqual([]);
  });

  it('GET /metrics: jobs by status, queue depth, workers, epoch durations, training speed and HTTP latency by route', async () => {
    await harness.startWorker();
    const job = await api().post('/v1/jobs').send(tinyIrisSpec({ epochs: 3 }));
    await waitFor('the job', async () => (await api().get(`/v1/jobs/${job.body.id}`)).body.status === 'succeeded');
    await api().get('/v1/jobs/not-a-job');
    const response = await api().get('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    const text = response.text;
    expect(sample(text, 'trainyard_jobs{status="succeeded"}')).toBe(1);
    expect(sample(text, 'trainyard_jobs{status="cancelled"}')).toBe(1);
    expect(sample(text, 'trainyard_queue_jobs{queue="training",state="waiting"}')).toBe(0);
    expect(sample(text, 'trainyard_workers')).toBe(1);
    await waitFor('three epochs observed', async () => sample((await api().get('/metrics')).text, 'trainyard_epoch_duration_seconds_count') === 3);
    expect(text).toMatch(/trainyard_http_request_duration_seconds_count\{method="GET",route="\/v1\/jobs\/:id",status="404"\} 1/);
    // A finished job's speed series is gone; a running one would be listed.
    expect(text).not.toContain(`trainyard_training_samples_per_second{job="${job.body.id}"}`);
    expect(text).toContain('trainyard_process_resident_memory_bytes');
  });
});
