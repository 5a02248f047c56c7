import { execFileSync } from 'node:child_process';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveJobSpec, jobSpecSchema } from '../../src/spec/job-spec.js';
import type { TrainingWorker } from '../../src/worker/training-worker.js';
import { DEFAULT_PROJECT } from '../../src/projects/default-project.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness('worker', { TRAINYARD_BACKEND: 'wasm' });
});
afterAll(async () => harness?.close());

async function job(id: string) {
  return (await request(harness.app.server).get(`/v1/jobs/${id}`)).body as { status: string; attempts: number; failureReason: string | null; progress: number };
}

// Many small steps: long enough to interrupt, a few seconds in total.
const longSpec = tinyIrisSpec({ epochs: 300, batchSize: 8, logEveryBatches: 15 });

async function submit(spec = longSpec): Promise<string> {
  const response = await request(harness.app.server).post('/v1/jobs').send(spec);
  expect(response.status).toBe(201);
  return response.body.id;
}

function trainingChildren(): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes('trainer-process'))
      .map((line) => Number.parseInt(line.trim(), 10));
  } catch {
    return [];
  }
}

describe('training worker lifecycle', () => {
  let worker: TrainingWorker;

  it('on shutdown returns the running job to the queue; the next worker trains it to the end', async () => {
    worker = await harness.startWorker();
    const id = await submit();
    await waitFor('training progress', async () => (await job(id)).progress > 0.05);
    await worker.close();

    const released = await job(id);
    expect(released.status).toBe('queued');
    expect(await harness.services.queues.any.getJobState(id)).toBe('prioritized');
    const events = (await request(harness.app.server).get(`/v1/jobs/${id}/events`)).body.data as { type: string; data: { status?: string; reason?: string } }[];
    expect(events.at(-1)).toMatchObject({ type: 'status', data: { status: 'queued', reason: expect.stringContaining('shutting down') } });

    worker = await harness.startWorker();
    const done = await waitFor('the job to finish', async () => {
      const current = await job(id);
      return ['succeeded', 'failed'].includes(current.status) && current;
    });
    expect(done).toMatchObject({ status: 'succeeded', attempts: 2, progress: 1 });
    // A restarted run overwrites its metrics rather than doubling them.
    const epochs = (await request(harness.app.server).get(`/v1/jobs/${id}/metrics?scope=epoch&limit=10000`)).body.data as { epoch: number }[];
    expect(epochs.map((m) => m.epoch)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  });

  it('fails a job whose training process is killed, with the reason, and keeps serving', async () => {
    const id = await submit();
    await waitFor('training progress', async () => (await job(id)).progress > 0.05);
    const children = trainingChildren();
    expect(children.length).toBeGreaterThan(0);
    for (const pid of children) process.kill(pid, 'SIGKILL');

    const failed = await waitFor('the job to fail', async () => {
      const current = await job(id);
      return current.status === 'failed' && current;
    });
    expect(failed.failureReason).toMatch(/training process exited unexpectedly \(signal SIGKILL\)/);

    const next = await submit(tinyIrisSpec());
    const done = await waitFor('the next job', async () => {
      const current = await job(next);
      return ['succeeded', 'failed'].includes(current.status) && current;
    });
    expect(done.status).toBe('succeeded');
  });

  it('on start queues jobs the database has but Redis lost', async () => {
    await worker.close();
    // As if Redis restarted empty: the job exists only in PostgreSQL.
    const { job: orphan } = await harness.services.store.create(DEFAULT_PROJECT.id, resolveJobSpec(jobSpecSchema.parse(tinyIrisSpec())), harness.config.PROJECT_MAX_RUNNING_JOBS);
    expect(await harness.services.queues.any.getJobState(orphan.id)).toBe('unknown');
    worker = await harness.startWorker();
    const done = await waitFor('the orphan to be trained', async () => {
      const current = await job(orphan.id);
      return current.status === 'succeeded' && current;
    });
    expect(done.attempts).toBe(1);
  });
});
