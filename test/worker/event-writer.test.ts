import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PROJECT } from '../../src/projects/default-project.js';
import { jobSpecSchema, resolveJobSpec } from '../../src/spec/job-spec.js';
import { EventWriter } from '../../src/worker/event-writer.js';
import { JobStore } from '../../src/jobs/job-store.js';
import { closeDatabase, createDatabase } from '../../src/db/prisma.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('eventwriter');
});
afterAll(async () => harness?.close());

async function newJob(): Promise<string> {
  const { job } = await harness.services.store.create(DEFAULT_PROJECT.id, resolveJobSpec(jobSpecSchema.parse(tinyIrisSpec())), 10);
  return job.id;
}

const writerFor = (jobId: string, store: JobStore, announced: number[] = []) =>
  new EventWriter(jobId, {
    store,
    logger: harness.services.logger,
    committed: async (events) => {
      announced.push(...events.map((event) => event.seq));
    },
    checkpointCommitted: async () => undefined,
  });

describe('EventWriter', () => {
  it('stores every event in training order with gap-free seqs, one metric row per step, and progress', async () => {
    const id = await newJob();
    const announced: number[] = [];
    const writer = writerFor(id, harness.services.store, announced);
    writer.event({ type: 'started', backend: 'cpu', device: 'cpu', totalSteps: 100, trainSize: 10, valSize: 0, features: 4, classes: 3, parameters: 10 } as never);
    for (let step = 1; step <= 100; step++) writer.event({ type: 'batchMetrics', epoch: Math.ceil(step / 10), step, values: { loss: 1 / step } });
    // A redone step (a resumed run) replaces its values.
    writer.event({ type: 'batchMetrics', epoch: 10, step: 100, values: { loss: 0.5 } });
    await writer.drain(10_000);
    const events = await harness.services.store.listEvents(id, 0, 1000);
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 103 }, (_, i) => i + 1));
    expect(announced).toEqual(events.slice(1).map((event) => event.seq));
    const metrics = await harness.services.store.listMetrics(id, { scope: 'batch', afterStep: 0, limit: 1000 });
    expect(metrics.map((metric) => metric.step)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(metrics.at(-1)!.values).toEqual({ loss: 0.5 });
    expect((await harness.services.store.get(id))!.progress).toBe(1);
  });

  it("records when training emitted each event, in batches with and without a checkpoint", async () => {
    const id = await newJob();
    const writer = writerFor(id, harness.services.store);
    const t0 = Date.parse('2026-01-01T00:00:00.000Z');
    writer.event({ type: 'batchMetrics', epoch: 1, step: 1, values: { loss: 1 } }, t0 + 1);
    writer.event({ type: 'earlyStop', epoch: 1, bestEpoch: 1, monitor: 'loss', best: 1, restoredBest: false, reason: 'test' }, t0 + 2);
    await writer.drain(10_000);
    // A checkpoint goes through the transaction path; its neighbours keep their order and times.
    writer.event({ type: 'batchMetrics', epoch: 1, step: 2, values: { loss: 0.5 } }, t0 + 3);
    writer.checkpoint({ epoch: 1, step: 2, reason: 'interval', path: `x/${id}`, sizeBytes: 1, sha256: 'a'.repeat(64), metrics: {}, isBest: false }, t0 + 4);
    writer.event({ type: 'batchMetrics', epoch: 1, step: 3, values: { loss: 0.25 } }, t0 + 5);
    await writer.drain(10_000);
    const events = await harness.services.store.listEvents(id, 0, 100);
    expect(events.map((event) => [event.seq, event.type])).toEqual([
      [1, 'status'],
      [2, 'metrics'],
      [3, 'earlyStop'],
      [4, 'metrics'],
      [5, 'checkpoint'],
      [6, 'metrics'],
    ]);
    expect(events.slice(1).map((event) => Date.parse(event.emittedAt) - t0)).toEqual([1, 2, 3, 4, 5]);
    // The service's own events were produced as they were recorded.
    expect(events[0]!.emittedAt).toBe(events[0]!.createdAt);
    expect((await harness.services.store.get(id))!.lastSeq).toBe(6);
  });

  it('keeps writing in order after PostgreSQL terminates its sessions', async () => {
    const id = await newJob();
    // A pool of its own, named, so terminating its sessions does not touch the harness's.
    const url = new URL(harness.config.DATABASE_URL);
    url.searchParams.set('application_name', 'event-writer-victim');
    const database = createDatabase(url.toString());
    const store = new JobStore(database.prisma, database.pool);
    const writer = writerFor(id, store);
    writer.event({ type: 'batchMetrics', epoch: 1, step: 1, values: { loss: 1 } });
    await writer.drain(10_000);
    const terminated = await harness.services.prisma.$queryRaw<{ pid: number }[]>`
      SELECT pg_terminate_backend(pid)::int AS pid FROM pg_stat_activity WHERE application_name = 'event-writer-victim'`;
    expect(terminated.length).toBeGreaterThan(0);
    // Its connections are dead: writes fail until the pool opens new ones.
    for (let step = 2; step <= 50; step++) writer.event({ type: 'batchMetrics', epoch: 1, step, values: { loss: 1 / step } });
    await writer.drain(20_000);
    const events = await harness.services.store.listEvents(id, 0, 1000);
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    expect(events.slice(1).map((event) => event.data.step)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await closeDatabase(database);
  });

  it('writes a batch once when it is retried after a commit whose answer was lost', async () => {
    const id = await newJob();
    const store = harness.services.store;
    const batch = Array.from({ length: 5 }, (_, i) => ({
      kind: 'metric' as const,
      key: `run-a:${i}`,
      emittedAt: Date.now(),
      metric: { scope: 'batch' as const, epoch: 1, step: i + 1, values: { loss: i }, progress: 0.1 },
      eventData: {},
    }));
    expect(await store.recordBatch(id, batch)).toHaveLength(5);
    // The same writes again (the retry), and one new one.
    const again = await store.recordBatch(id, [...batch, { kind: 'event', key: 'run-a:5', emittedAt: Date.now(), type: 'earlyStop', data: { epoch: 1 } }]);
    expect(again.map((event) => event.seq)).toEqual([7]);
    const events = await store.listEvents(id, 0, 100);
    expect(events.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});
