import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';

let harness: Harness;

beforeAll(async () => {
  // No worker here: jobs stay queued, so these tests see exactly what the API wrote.
  harness = await startHarness('api');
});
afterAll(async () => harness?.close());

function post(body: unknown) {
  return request(harness.app.server).post('/v1/jobs').send(body as object);
}

interface FieldError {
  field: string;
  message: string;
}

function fields(body: { errors?: FieldError[] }): string[] {
  return (body.errors ?? []).map((error) => error.field);
}

describe('POST /v1/jobs', () => {
  it('accepts a spec, answers 201 with the job queued and every default filled in', async () => {
    const response = await post({ dataset: { name: 'iris' }, model: { layers: [{ type: 'dense', units: 3 }] } });
    expect(response.status).toBe(201);
    const job = response.body;
    expect(job.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.location).toBe(`/v1/jobs/${job.id}`);
    expect(job.status).toBe('queued');
    expect(job.attempts).toBe(0);
    expect(job.spec).toMatchObject({
      dataset: { name: 'iris' },
      model: { layers: [{ type: 'dense', units: 3, activation: 'linear', useBias: true }] },
      optimizer: { type: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
      learningRate: 0.001,
      epochs: 10,
      batchSize: 32,
      validationSplit: 0.2,
      shuffle: true,
      logEveryBatches: 10,
    });
    expect(Number.isInteger(job.spec.seed)).toBe(true);
    expect(job.links).toEqual({
      self: `/v1/jobs/${job.id}`,
      metrics: `/v1/jobs/${job.id}/metrics`,
      events: `/v1/jobs/${job.id}/events`,
      stream: `/v1/jobs/${job.id}/stream`,
      checkpoints: `/v1/jobs/${job.id}/checkpoints`,
      model: `/v1/jobs/${job.id}/model/model.json`,
    });

    const fetched = await request(harness.app.server).get(`/v1/jobs/${job.id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body.spec).toEqual(job.spec);

    const events = await request(harness.app.server).get(`/v1/jobs/${job.id}/events`);
    expect(events.body.data).toMatchObject([{ seq: 1, type: 'status', data: { status: 'queued' } }]);
    const metrics = await request(harness.app.server).get(`/v1/jobs/${job.id}/metrics`);
    expect(metrics.body).toEqual({ data: [] });
  });

  it('answers the advice the spec gets beside the created job, records it as its second event, and leaves out what it silences', async () => {
    const spec = { dataset: { name: 'mnist', limit: 2000 }, model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 10 }] }, optimizer: 'adam', learningRate: 0.05, batchSize: 512 };
    const response = await post(spec);
    expect(response.status).toBe(201);
    expect(response.body.status).toBe('queued');
    expect(response.body.advice).toEqual([
      { code: 'largeBatchSmallDataset', field: 'batchSize', reason: expect.stringContaining('1600 training rows is 4 steps an epoch'), source: expect.stringContaining('small batches for small data sets') },
      { code: 'adamRateFarFromDefault', field: 'learningRate', reason: expect.stringContaining('50× above its default 0.001'), source: expect.stringContaining('Kingma & Ba 2015') },
    ]);
    const events = (await request(harness.app.server).get(`/v1/jobs/${response.body.id}/events`)).body.data;
    expect(events).toMatchObject([
      { seq: 1, type: 'status', data: { status: 'queued' } },
      { seq: 2, type: 'advice', data: { advice: response.body.advice } },
    ]);
    const fetched = (await request(harness.app.server).get(`/v1/jobs/${response.body.id}`)).body;
    expect(fetched.lastSeq).toBe(2);

    const quiet = await post({ ...spec, silenceAdvice: ['adamRateFarFromDefault', 'largeBatchSmallDataset'] });
    expect(quiet.status).toBe(201);
    expect(quiet.body.advice).toEqual([]);
    expect(quiet.body.spec.silenceAdvice).toEqual(['adamRateFarFromDefault', 'largeBatchSmallDataset']);
    expect(quiet.body.lastSeq).toBe(1);
    expect((await request(harness.app.server).get(`/v1/jobs/${quiet.body.id}/events`)).body.data).toHaveLength(1);

    const unknown = await post({ ...spec, silenceAdvice: ['adamRateFarFromDefault', 'noSuchTip'] });
    expect(unknown.status).toBe(400);
    expect(fields(unknown.body)).toEqual(['silenceAdvice[1]']);
  });

  it('puts the job on the queue under its own id', async () => {
    const response = await post(tinyIrisSpec());
    expect(response.status).toBe(201);
    expect(await harness.services.queues.any.getJobState(response.body.id)).toBe('prioritized');
  });

  it('records specs submitted together each as sent, whatever characters their names hold', async () => {
    // Concurrent submissions are written by one statement from one JSON document spliced from each spec's JSON.
    const names = ['quote " and \\ backslash', '{"id":"x","spec":{}},{', 'line\u2028separator and 🎛️', '\\u0041 is not A', "'; DROP TABLE jobs; --"];
    const responses = await Promise.all(names.map((name) => post({ ...tinyIrisSpec(), name })));
    expect(responses.map((response) => response.status)).toEqual(names.map(() => 201));
    for (const [i, response] of responses.entries()) {
      expect(response.body.spec.name).toBe(names[i]);
      const read = await request(harness.app.server).get(`/v1/jobs/${response.body.id}`);
      expect(read.body.spec).toEqual(response.body.spec);
      const [row] = await harness.services.prisma.$queryRaw<{ name: string }[]>`SELECT spec->>'name' AS name FROM jobs WHERE id = ${response.body.id}::uuid`;
      expect(row!.name).toBe(names[i]);
    }
  });

  it('resolves the sgd short form with its own default rate', async () => {
    const response = await post(tinyIrisSpec({ optimizer: 'sgd', learningRate: undefined }));
    expect(response.status).toBe(201);
    expect(response.body.spec.optimizer).toEqual({ type: 'sgd' });
    expect(response.body.spec.learningRate).toBe(0.01);
  });

  it('rejects unknown fields at any depth, naming each', async () => {
    const spec = tinyIrisSpec();
    const response = await post({
      ...spec,
      epochz: 3,
      model: { layers: [{ type: 'dense', units: 3, activaton: 'relu' }] },
    });
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.body).toMatchObject({ status: 400, title: 'Invalid request', type: 'urn:trainyard:problem:invalid-request' });
    expect(fields(response.body)).toEqual(expect.arrayContaining(['epochz', 'model.layers[0].activaton']));
  });

  it('names every bad field of a spec with several problems', async () => {
    const response = await post({
      dataset: { name: 'cifar' },
      model: { layers: [{ type: 'dense', units: 0 }, { type: 'dropout', rate: 1 }] },
      optimizer: 'adadelta',
      epochs: 0,
      batchSize: 2.5,
      validationSplit: 1,
    });
    expect(response.status).toBe(400);
    expect(fields(response.body)).toEqual(
      expect.arrayContaining(['dataset.name', 'model.layers[0].units', 'model.layers[1].rate', 'optimizer', 'epochs', 'batchSize', 'validationSplit']),
    );
    expect(response.body.detail).toContain('model.layers[0].units');
  });

  it('echoes regularization defaults and rejects out-of-range penalties, naming them', async () => {
    const ok = await post(tinyIrisSpec({ regularization: { labelSmoothing: 0.1 } }));
    expect(ok.body.spec.regularization).toEqual({ l1: 0, l2: 0, labelSmoothing: 0.1, confidencePenalty: 0 });
    const bad = await post(
      tinyIrisSpec({
        regularization: { l2: -1, labelSmoothing: 1, entropyThreshold: { beta: 1, tau: 0 } },
        model: { layers: [{ type: 'dense', units: 3, kernelRegularizer: { l1: -0.1 } }] },
      }),
    );
    expect(bad.status).toBe(400);
    expect(fields(bad.body)).toEqual(
      expect.arrayContaining(['regularization.l2', 'regularization.labelSmoothing', 'regularization.entropyThreshold.tau', 'model.layers[0].kernelRegularizer.l1']),
    );
  });

  it('checks the model against the data set: output units must match the classes', async () => {
    const response = await post(tinyIrisSpec({ model: { layers: [{ type: 'dense', units: 4, activation: 'relu' }, { type: 'dense', units: 10 }] } }));
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([
      expect.objectContaining({ field: 'model.layers[1].units', message: expect.stringContaining('needs 3 units') }),
    ]);
  });

  it('rejects a batch larger than the training split, saying how many rows there are', async () => {
    const response = await post(tinyIrisSpec({ batchSize: 121 }));
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([expect.objectContaining({ field: 'batchSize', message: expect.stringContaining('120 training rows') })]);
  });

  it('rejects an unknown layer type and a missing model', async () => {
    const unknownLayer = await post(tinyIrisSpec({ model: { layers: [{ type: 'conv9d', units: 3 } as never] } }));
    expect(unknownLayer.status).toBe(400);
    expect(fields(unknownLayer.body)).toContain('model.layers[0].type');
    const missing = await post({ dataset: { name: 'iris' } });
    expect(missing.status).toBe(400);
    expect(fields(missing.body)).toContain('model');
  });

  it('answers malformed JSON and oversized bodies with problem+json, not 500', async () => {
    const malformed = await request(harness.app.server).post('/v1/jobs').set('content-type', 'application/json').send('{"dataset": ');
    expect(malformed.status).toBe(400);
    expect(malformed.headers['content-type']).toContain('application/problem+json');
    const huge = await post({ ...tinyIrisSpec(), name: 'x'.repeat(harness.config.BODY_LIMIT_BYTES + 10) });
    expect(huge.status).toBe(413);
    expect(huge.body.title).toBe('Payload Too Large');
  });
});

describe('GET /v1/jobs', () => {
  it('pages newest first with limit/after/hasMore and filters by status', async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await post(tinyIrisSpec({ name: `page ${i}` }))).body.id);
    const seen: string[] = [];
    let next: string | null = '/v1/jobs?limit=2';
    let pages = 0;
    while (next) {
      const page = await request(harness.app.server).get(next);
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.map((job: { id: string }) => job.id));
      expect(page.body.hasMore).toBe(page.body.next !== null);
      next = page.body.next;
      pages += 1;
    }
    expect(pages).toBeGreaterThanOrEqual(3);
    // Newest first, no duplicates, and the five just created lead the list.
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.slice(0, 5)).toEqual([...created].reverse());

    const queued = await request(harness.app.server).get('/v1/jobs?status=queued&limit=200');
    expect(queued.body.data.every((job: { status: string }) => job.status === 'queued')).toBe(true);
    expect(queued.body.data.length).toBeGreaterThanOrEqual(5);
    const none = await request(harness.app.server).get('/v1/jobs?status=succeeded');
    expect(none.body).toEqual({ data: [], hasMore: false, next: null });
  });

  it('rejects a bad status filter and a bad limit', async () => {
    const badStatus = await request(harness.app.server).get('/v1/jobs?status=done');
    expect(badStatus.status).toBe(400);
    expect(fields(badStatus.body)).toContain('status');
    const badLimit = await request(harness.app.server).get('/v1/jobs?limit=0');
    expect(badLimit.status).toBe(400);
    expect(fields(badLimit.body)).toContain('limit');
  });
});

describe('unknown jobs', () => {
  it.each([
    ['/v1/jobs/0193a1b2-0000-7000-8000-000000000000'],
    ['/v1/jobs/0193a1b2-0000-7000-8000-000000000000/events'],
    ['/v1/jobs/0193a1b2-0000-7000-8000-000000000000/metrics'],
    ['/v1/jobs/not-a-uuid'],
  ])('GET %s is a 404 problem', async (path) => {
    const response = await request(harness.app.server).get(path);
    expect(response.status).toBe(404);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.body).toMatchObject({ status: 404, title: 'Not Found' });
  });
});

describe('service endpoints', () => {
  it('healthz and readyz report the process and its dependencies', async () => {
    expect((await request(harness.app.server).get('/healthz')).body).toEqual({ status: 'ok' });
    const ready = await request(harness.app.server).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
  });

  it('lists the built-in and synthetic data sets with their parameters', async () => {
    const response = await request(harness.app.server).get('/v1/datasets');
    expect(response.body.data.map((d: { name: string; kind: string }) => `${d.kind}:${d.name}`)).toEqual([
      'builtIn:iris',
      'builtIn:mnist',
      'synthetic:xor',
      'synthetic:spirals',
      'synthetic:blobs',
      'synthetic:regression',
      'synthetic:adding',
      'synthetic:copy',
      'synthetic:sine',
      'synthetic:seq2seq',
    ]);
    expect(response.body.data[1]).toMatchObject({ rows: 10000, classes: 10, featureShape: [784] });
    expect(response.body.data[3]).toMatchObject({ classes: 2, featureShape: [2], rows: 1000, parameters: { arms: { default: 2 }, noise: { default: 0.1 } } });
  });

  it('checks layer shapes at submission: MNIST images with a CNN, and the layer that cannot work', async () => {
    const cnn = { type: 'conv2d', filters: 8, kernelSize: 3, activation: 'relu' };
    const ok = await post({ dataset: { name: 'mnist', shape: 'image' }, model: { layers: [cnn, { type: 'maxPool2d' }, { type: 'flatten' }, { type: 'dense', units: 10 }] } });
    expect(ok.status).toBe(201);
    expect(ok.body.spec.model.layers[0]).toEqual({ type: 'conv2d', filters: 8, kernelSize: 3, strides: 1, padding: 'valid', activation: 'relu', useBias: true });
    const afterFlatten = await post({ dataset: { name: 'mnist', shape: 'image' }, model: { layers: [{ type: 'flatten' }, cnn, { type: 'dense', units: 10 }] } });
    expect(afterFlatten.status).toBe(400);
    expect(afterFlatten.body.errors).toEqual([expect.objectContaining({ field: 'model.layers[1]', message: expect.stringContaining('needs an input of shape [height, width, channels]') })]);
    const denseOnImage = await post({ dataset: { name: 'mnist', shape: 'image' }, model: { layers: [{ type: 'dense', units: 10 }] } });
    expect(denseOnImage.body.errors).toEqual([expect.objectContaining({ field: 'model.layers[0]', message: expect.stringContaining('add a flatten layer') })]);
    const irisImage = await post({ dataset: { name: 'iris', shape: 'image' }, model: { layers: [{ type: 'dense', units: 3 }] } });
    expect(fields(irisImage.body)).toContain('dataset.shape');
  });

  it('accepts a synthetic data set and checks the model against its parameters', async () => {
    const ok = await post({ dataset: { name: 'spirals', arms: 3, rows: 600 }, model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 3 }] } });
    expect(ok.status).toBe(201);
    expect(ok.body.spec.dataset).toEqual({ name: 'spirals', arms: 3, rows: 600, noise: 0.1, seed: 0 });
    const wrong = await post({ dataset: { name: 'spirals', arms: 3 }, model: { layers: [{ type: 'dense', units: 2 }] } });
    expect(wrong.status).toBe(400);
    expect(wrong.body.errors).toEqual([expect.objectContaining({ field: 'model.layers[0].units', message: expect.stringContaining('needs 3 units') })]);
    const huge = await post({ dataset: { name: 'blobs', rows: 1_000_000, features: 100 }, model: { layers: [{ type: 'dense', units: 3 }] } });
    expect(fields(huge.body)).toContain('dataset.rows');
    const unknown = await post({ dataset: { name: 'moons' }, model: { layers: [{ type: 'dense', units: 2 }] } });
    expect(fields(unknown.body)).toContain('dataset.name');
  });

  it('serves the dashboard and the API docs', async () => {
    const dashboard = await request(harness.app.server).get('/');
    expect(dashboard.status).toBe(200);
    expect(dashboard.text).toContain('Trainyard');
    const docs = await request(harness.app.server).get('/docs/json');
    expect(docs.status).toBe(200);
    expect(docs.body.paths['/v1/jobs']).toBeDefined();
  });
});
