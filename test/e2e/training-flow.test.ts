import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { collectStream, rejectedUpgradeStatus, type StreamMessage } from '../support/stream-client.js';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness('e2e', { TRAINYARD_BACKEND: 'wasm' });
  await harness.startWorker();
});
afterAll(async () => harness?.close());

async function submit(overrides: Parameters<typeof tinyIrisSpec>[0] = {}): Promise<string> {
  const response = await request(harness.app.server).post('/v1/jobs').send(tinyIrisSpec(overrides));
  expect(response.status).toBe(201);
  return response.body.id as string;
}

function expectContiguous(messages: StreamMessage[], from: number): void {
  expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => from + i));
}

describe('submit → worker trains → succeeded, watched over the websocket', () => {
  it('streams every event in order and records the run in PostgreSQL', async () => {
    const id = await submit();
    const stream = await collectStream(harness.baseUrl, id);

    expect(stream.closeCode).toBe(1000);
    expectContiguous(stream.messages, 1);
    const statuses = stream.messages.filter((m) => m.type === 'status').map((m) => m.data.status);
    expect(statuses).toEqual(['queued', 'running', 'succeeded']);
    const started = stream.messages.find((m) => m.type === 'started');
    expect(started?.data).toMatchObject({ backend: 'wasm', trainRows: 120, validationRows: 30, stepsPerEpoch: 8, totalSteps: 24 });
    const epochs = stream.messages.filter((m) => m.type === 'metrics' && m.data.scope === 'epoch');
    expect(epochs.map((m) => m.data.epoch)).toEqual([1, 2, 3]);
    // 8 steps per epoch, a batch record at every third global step.
    const batches = stream.messages.filter((m) => m.type === 'metrics' && m.data.scope === 'batch');
    expect(batches.map((m) => m.data.step)).toEqual([3, 6, 9, 12, 15, 18, 21, 24]);
    expect(stream.messages.at(-1)).toMatchObject({ type: 'status', data: { status: 'succeeded' } });

    const job = (await request(harness.app.server).get(`/v1/jobs/${id}`)).body;
    expect(job).toMatchObject({ status: 'succeeded', backend: 'wasm', attempts: 1, progress: 1, failureReason: null });
    expect(job.device).toContain('WebAssembly');
    expect(Date.parse(job.startedAt)).toBeLessThanOrEqual(Date.parse(job.finishedAt));
    expect(job.lastSeq).toBe(stream.messages.length);

    const metrics = (await request(harness.app.server).get(`/v1/jobs/${id}/metrics?scope=epoch`)).body.data;
    expect(metrics).toHaveLength(3);
    for (const metric of metrics) {
      expect(Object.keys(metric.values).sort()).toEqual(['accuracy', 'learning_rate', 'loss', 'val_accuracy', 'val_loss']);
      expect(Number.isFinite(metric.values.loss)).toBe(true);
    }
    expect(metrics[2].values.loss).toBeLessThan(metrics[0].values.loss);

    const events = (await request(harness.app.server).get(`/v1/jobs/${id}/events`)).body.data;
    expect(events.map((e: StreamMessage) => e.seq)).toEqual(stream.messages.map((m) => m.seq));
  });

  it('replays what a client missed after ?after=, then closes, with nothing twice', async () => {
    const id = await submit({ epochs: 4 });
    // Watch the start of the run, then drop the connection mid-training.
    const first = await collectStream(harness.baseUrl, id, { stopAfter: 4 });
    expect(first.messages).toHaveLength(4);
    const lastSeen = first.messages.at(-1)!.seq;

    const rest = await collectStream(harness.baseUrl, id, { after: lastSeen });
    expect(rest.closeCode).toBe(1000);
    expectContiguous(rest.messages, lastSeen + 1);
    expect(rest.messages.at(-1)).toMatchObject({ type: 'status', data: { status: 'succeeded' } });

    // A client reconnecting after the end gets the tail it asked for, or a clean close when it has everything.
    const tail = await collectStream(harness.baseUrl, id, { after: rest.messages.at(-1)!.seq - 2 });
    expect(tail.messages.map((m) => m.seq)).toEqual([rest.messages.at(-1)!.seq - 1, rest.messages.at(-1)!.seq]);
    const nothing = await collectStream(harness.baseUrl, id, { after: rest.messages.at(-1)!.seq });
    expect(nothing).toMatchObject({ messages: [], closeCode: 1000 });
  });

  it('fails a diverging run with a reason the user can act on', async () => {
    const id = await submit({
      optimizer: 'sgd',
      learningRate: 10,
      epochs: 30,
      // A deep linear stack at rate 10 blows up within a few steps: the loss turns NaN.
      model: { layers: [{ type: 'dense', units: 32 }, { type: 'dense', units: 32 }, { type: 'dense', units: 3 }] },
    });
    const stream = await collectStream(harness.baseUrl, id);
    const last = stream.messages.at(-1)!;
    expect(last).toMatchObject({ type: 'status', data: { status: 'failed' } });
    const job = (await request(harness.app.server).get(`/v1/jobs/${id}`)).body;
    expect(job.status).toBe('failed');
    expect(job.failureReason).toMatch(/diverged.*Lower the learning rate \(it was 10\).*"divergence"/);
  });

  it('recovers from divergence by halving, with each halving in the event log and stream', async () => {
    const id = await submit({
      optimizer: 'sgd',
      learningRate: 1,
      epochs: 3,
      logEveryBatches: 1,
      divergence: { maxRetries: 12, factor: 4 },
      model: { layers: [{ type: 'dense', units: 32 }, { type: 'dense', units: 32 }, { type: 'dense', units: 3 }] },
    });
    const stream = await collectStream(harness.baseUrl, id);
    expect(stream.messages.at(-1)).toMatchObject({ type: 'status', data: { status: 'succeeded' } });
    const halvings = stream.messages.filter((m) => m.type === 'divergence');
    expect(halvings.length).toBeGreaterThan(0);
    halvings.forEach((m, i) => expect(m.data).toMatchObject({ retry: i + 1, oldLearningRate: 1 / 2 ** i, newLearningRate: 1 / 2 ** (i + 1) }));
    const epochs = (await request(harness.app.server).get(`/v1/jobs/${id}/metrics?scope=epoch`)).body.data;
    // Rolled-back epochs are overwritten, not doubled: one row per epoch, at the final rate.
    expect(epochs.map((m: { epoch: number }) => m.epoch)).toEqual([1, 2, 3]);
    expect(epochs.every((m: { values: { learning_rate: number } }) => m.values.learning_rate === 1 / 2 ** halvings.length)).toBe(true);
  });

  it('holds out a test split, evaluated once at the end, and records the fitted scaling', async () => {
    const id = await submit({ epochs: 4, testSplit: 0.2, preprocessing: { features: 'standardize' } });
    const stream = await collectStream(harness.baseUrl, id);
    expect(stream.messages.find((m) => m.type === 'started')?.data).toMatchObject({ trainRows: 90, validationRows: 30, testRows: 30 });
    const scaling = stream.messages.find((m) => m.type === 'preprocessing');
    expect(scaling?.data).toMatchObject({ features: 'standardize', shift: expect.any(Array), scale: expect.any(Array) });
    const epochs = stream.messages.filter((m) => m.type === 'metrics' && m.data.scope === 'epoch');
    expect(epochs.slice(0, -1).every((m) => (m.data.values as Record<string, number>).test_accuracy === undefined)).toBe(true);
    expect((epochs.at(-1)!.data.values as Record<string, number>).test_accuracy).toBeGreaterThan(0.6);
  });

  it('refuses a stream of an unknown job with a plain 404 before upgrading', async () => {
    expect(await rejectedUpgradeStatus(harness.baseUrl, '/v1/jobs/0193a1b2-0000-7000-8000-000000000000/stream')).toBe(404);
  });
});
