import { execFileSync } from 'node:child_process';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { resolveJobSpec, jobSpecSchema } from '../../src/spec/job-spec.js';
import type { TrainingWorker } from '../../src/worker/training-worker.js';
import { ABORT_GRACE_MS } from '../../src/worker/trainer-host.js';
import { DEFAULT_PROJECT } from '../../src/projects/default-project.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

// Real training processes start and die here: minutes on a busy two-core machine.
vi.setConfig({ testTimeout: 180_000 });
let harness: Harness;

beforeAll(async () => {
  harness = await startHarness('worker', { TRAINYARD_BACKEND: 'wasm' });
});
afterAll(async () => harness?.close());

async function job(id: string) {
  return (await request(harness.app.server).get(`/v1/jobs/${id}`)).body as {
    status: string;
    attempts: number;
    restarts: number;
    restartCauses: string[];
    failureReason: string | null;
    progress: number;
  };
}
const events = async (id: string) => (await request(harness.app.server).get(`/v1/jobs/${id}/events?limit=1000`)).body.data as { type: string }[];
const checkpoints = async (id: string) => ((await request(harness.app.server).get(`/v1/jobs/${id}/checkpoints`)).body.data as unknown[]).length;

// Many small steps: interrupted a few epochs in (progress > 0.05), with most of the run still ahead.
const EPOCHS = 40;
const longSpec = tinyIrisSpec({ epochs: EPOCHS, batchSize: 8, logEveryBatches: 15 });

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
    expect(epochs.map((m) => m.epoch)).toEqual(Array.from({ length: EPOCHS }, (_, i) => i + 1));
  });

  it('restarts a job whose training process is killed from its checkpoint, counts it, and keeps serving', async () => {
    const id = await submit();
    await waitFor('a checkpoint and some progress', async () => {
      const current = await job(id);
      return current.progress > 0.05 && (await checkpoints(id)) > 0;
    });
    for (const pid of trainingChildren()) process.kill(pid, 'SIGKILL');

    const done = await waitFor('the job to finish', async () => {
      const current = await job(id);
      return ['succeeded', 'failed'].includes(current.status) && current;
    });
    expect(done).toMatchObject({ status: 'succeeded', restarts: 1 });
    expect(done.restartCauses[0]).toMatch(/training process exited unexpectedly \(signal SIGKILL\)/);
    const resumed = (await events(id)).filter((e) => e.type === 'resumed');
    expect(resumed).toHaveLength(1);
  });

  it('fails a job whose training process is killed once its restart budget is spent, listing each cause', async () => {
    const id = await submit({ ...longSpec, maxRestarts: 0 });
    await waitFor('training progress', async () => (await job(id)).progress > 0.05);
    for (const pid of trainingChildren()) process.kill(pid, 'SIGKILL');

    const failed = await waitFor('the job to fail', async () => {
      const current = await job(id);
      return current.status === 'failed' && current;
    });
    expect(failed.failureReason).toMatch(/training process exited unexpectedly \(signal SIGKILL\).*maxRestarts is 0/);

    // POST /retry resumes it from its checkpoint with a fresh budget.
    const retried = await request(harness.app.server).post(`/v1/jobs/${id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ status: 'queued', failureReason: null, restarts: 0 });
    const done = await waitFor('the retried job to finish', async () => {
      const current = await job(id);
      return ['succeeded', 'failed'].includes(current.status) && current;
    });
    expect(done.status).toBe('succeeded');
    expect((await request(harness.app.server).post(`/v1/jobs/${id}/retry`)).status).toBe(409);

    const next = await submit(tinyIrisSpec());
    const nextDone = await waitFor('the next job', async () => {
      const current = await job(next);
      return ['succeeded', 'failed'].includes(current.status) && current;
    });
    expect(nextDone.status).toBe('succeeded');
  });

  it('a job resumed the moment it is paused trains on: the paused run leaves nothing behind that kills it', async () => {
    // Asked to stop, the paused run armed a kill timer (ABORT_GRACE_MS) for a process that does not
    // stop; once, that timer killed the resumed run of the same job. The job is far longer than this
    // test watches it: it trains on until well past that timer, and is then cancelled.
    const id = await submit(tinyIrisSpec({ epochs: 10_000, batchSize: 8, logEveryBatches: 15 }));
    await waitFor('training progress', async () => (await job(id)).progress > 0);
    expect((await request(harness.app.server).post(`/v1/jobs/${id}/pause`)).status).toBe(202);
    const paused = await waitFor('the pause to land', async () => {
      const current = await job(id);
      return current.status === 'paused' && current;
    }, 60_000, 10);
    // Armed before the pause landed, so due by then at the latest.
    const timerDueBy = Date.now() + ABORT_GRACE_MS;
    expect((await request(harness.app.server).post(`/v1/jobs/${id}/resume`)).status).toBe(200);
    await waitFor('the resumed run to train', async () => {
      const current = await job(id);
      return current.status === 'running' && current.progress > paused.progress;
    });
    // Otherwise the timer would find no run of this job to kill, and this test would prove nothing.
    expect(Date.now(), 'the resumed run trains before the paused run\'s timer is due').toBeLessThan(timerDueBy);
    const [trainer] = trainingChildren();
    expect(trainer).toBeDefined();

    let progressWhenDue: number | undefined;
    const later = await waitFor('the resumed run to train on past the paused run\'s timer', async () => {
      const current = await job(id);
      if (current.status !== 'running' || current.restarts !== 0) return current;
      if (Date.now() <= timerDueBy) return false;
      progressWhenDue ??= current.progress;
      return current.progress > progressWhenDue && current;
    });
    expect(later).toMatchObject({ status: 'running', restarts: 0 });
    // The same training process, never killed.
    expect(trainingChildren()).toEqual([trainer]);

    expect((await request(harness.app.server).post(`/v1/jobs/${id}/cancel`)).status).toBe(202);
    const cancelled = await waitFor('the cancel to land', async () => {
      const current = await job(id);
      return current.status === 'cancelled' && current;
    });
    expect(cancelled).toMatchObject({ restarts: 0, restartCauses: [] });
  });

  it('on start queues the jobs the database has but Redis lost, in the order they were submitted', async () => {
    await worker.close();
    // As if Redis restarted empty: the jobs exist only in PostgreSQL.
    const orphans: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { job: orphan } = await harness.services.store.create(DEFAULT_PROJECT.id, resolveJobSpec(jobSpecSchema.parse(tinyIrisSpec())), harness.config.PROJECT_MAX_RUNNING_JOBS);
      expect(await harness.services.queues.any.getJobState(orphan.id)).toBe('unknown');
      orphans.push(orphan.id);
    }
    worker = await harness.startWorker();
    const views = await waitFor('the orphans to be trained', async () => {
      const views = await Promise.all(orphans.map(async (id) => (await request(harness.app.server).get(`/v1/jobs/${id}`)).body as { status: string; attempts: number; startedAt: string }));
      return views.every((view) => view.status === 'succeeded') && views;
    });
    expect(views.map((view) => view.attempts)).toEqual([1, 1, 1]);
    // One job at a time (WORKER_CONCURRENCY 1): first in, first started.
    const started = views.map((view) => view.startedAt);
    expect([...started].sort()).toEqual(started);
  });
});
