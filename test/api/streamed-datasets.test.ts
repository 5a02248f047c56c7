import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

let harness: Harness;
beforeAll(async () => {
  // Every table upload above 1 KiB of features is streamed, by the API's checks and the worker's training process alike.
  harness = await startHarness('streamed-datasets', { TRAINYARD_BACKEND: 'wasm', TRAINING_IN_MEMORY_BYTES: '1024' });
  await harness.startWorker();
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);

function csv(rows: number): string {
  const lines = ['x,y,kind'];
  for (let i = 0; i < rows; i++) {
    const cls = i % 2;
    const jitter = ((i * 7919) % 100) / 100;
    lines.push(`${(cls * 4 + jitter).toFixed(3)},${(cls * -3 + jitter).toFixed(3)},${cls ? 'big' : 'small'}`);
  }
  return `${lines.join('\n')}\n`;
}

const jobSpec = (id: string, extra: Record<string, unknown> = {}) => ({
  dataset: { name: 'upload', id },
  model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 2 }] },
  epochs: 4,
  batchSize: 16,
  learningRate: 0.05,
  preprocessing: { features: 'standardize' },
  seed: 1,
  ...extra,
});

describe('an upload above TRAINING_IN_MEMORY_BYTES', () => {
  let id: string;
  beforeAll(async () => {
    // 200 rows × 2 features × 4 bytes = 1600 bytes of features.
    const uploaded = await api().post('/v1/datasets?name=streamed').set('content-type', 'text/csv').send(csv(200));
    expect(uploaded.status).toBe(201);
    id = uploaded.body.id;
  });

  it('trains with its rows streamed, and the started event says from where', async () => {
    const job = await api().post('/v1/jobs').send(jobSpec(id));
    expect(job.status).toBe(201);
    const done = await waitFor('the job', async () => {
      const current = (await api().get(`/v1/jobs/${job.body.id}`)).body;
      return ['succeeded', 'failed'].includes(current.status) && current;
    });
    expect(done.status).toBe('succeeded');
    const events = (await api().get(`/v1/jobs/${job.body.id}/events`)).body.data as { type: string; data: Record<string, unknown> }[];
    const started = events.find((event) => event.type === 'started');
    expect(started?.data).toMatchObject({ streamed: { dataset: id, file: 'features.f32', featureBytes: 1600 } });
    const metrics = (await api().get(`/v1/jobs/${job.body.id}/metrics?scope=epoch`)).body.data;
    expect(metrics.at(-1).values.val_accuracy).toBeGreaterThan(0.9);
  });

  it('refuses distributed training at submission, naming the field and the sizes', async () => {
    const job = await api().post('/v1/jobs').send(jobSpec(id, { distributed: { strategy: 'sync', workers: 2 } }));
    expect(job.status).toBe(422);
    expect(job.body.errors).toEqual([{ field: 'distributed', message: expect.stringMatching(/streamed from disk.*TRAINING_IN_MEMORY_BYTES/) }]);
    expect(job.body).toMatchObject({ featureBytes: 1600, inMemoryBytes: 1024 });
  });
});
