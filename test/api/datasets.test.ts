import { readdirSync } from 'node:fs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('datasets', { TRAINYARD_BACKEND: 'wasm', UPLOAD_LIMIT_BYTES: '20000' });
  await harness.startWorker();
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);
const upload = (body: string, type = 'text/csv', query = 'name=test') => api().post(`/v1/datasets?${query}`).set('content-type', type).send(body);

// Two well separated classes in two features, as a person would export them.
function csv(rows: number, seed = 1): string {
  const lines = ['x,y,species'];
  for (let i = 0; i < rows; i++) {
    const cls = i % 2;
    const jitter = ((i * 7919 + seed) % 100) / 100;
    lines.push(`${(cls * 4 + jitter).toFixed(3)},${(cls * -3 + jitter).toFixed(3)},${cls ? '"big, red"' : 'small'}`);
  }
  return `${lines.join('\n')}\n`;
}

const jobSpec = (id: string, units = 2) => ({
  dataset: { name: 'upload', id },
  model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units }] },
  epochs: 5,
  batchSize: 16,
  learningRate: 0.05,
  seed: 1,
});

describe('uploads', () => {
  it('stores a CSV, answers the same id for the same bytes, and a job trains on it', async () => {
    const first = await upload(csv(200));
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ name: 'test', format: 'csv', rows: 200, featureNames: ['x', 'y'], labelColumn: 'species', classNames: ['big, red', 'small'] });
    const again = await upload(csv(200), 'text/csv', 'name=again');
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);

    const listed = await api().get('/v1/datasets');
    expect(listed.body.uploaded.map((d: { id: string }) => d.id)).toContain(first.body.id);

    const job = await api().post('/v1/jobs').send(jobSpec(first.body.id));
    expect(job.status).toBe(201);
    const done = await waitFor('the job', async () => {
      const current = (await api().get(`/v1/jobs/${job.body.id}`)).body;
      return ['succeeded', 'failed'].includes(current.status) && current;
    });
    expect(done.status).toBe('succeeded');
    const metrics = (await api().get(`/v1/jobs/${job.body.id}/metrics?scope=epoch`)).body.data;
    expect(metrics.at(-1).values.val_accuracy).toBeGreaterThan(0.9);
  });

  it('lists the sequence and regression sets with their task, input and output shapes', async () => {
    const { body } = await api().get('/v1/datasets');
    const byName = Object.fromEntries(body.data.map((d: { name: string }) => [d.name, d]));
    expect(byName.adding).toMatchObject({ task: 'regression', featureShape: [50, 2], outputShape: [1], classes: 0 });
    expect(byName.copy).toMatchObject({ task: 'classification', featureShape: [30, 10], outputShape: [30, 9], classes: 9 });
    expect(byName.sine).toMatchObject({ task: 'regression', featureShape: [40, 1], outputShape: [1] });
    expect(byName.regression).toMatchObject({ task: 'regression', featureShape: [3], outputShape: [1] });
    expect(byName.regression.parameters.coefficients.default).toEqual([2, -3, 0.5]);
    expect(Object.keys(byName.mnist.parameters)).toEqual(expect.arrayContaining(['limit', 'shape', 'fixedTestSet']));
    expect(Object.keys(byName.iris.parameters)).toEqual(['limit', 'classes']);
  });

  it('takes JSON Lines and JSON arrays too, with a chosen label column', async () => {
    const records = Array.from({ length: 20 }, (_, i) => ({ target: i % 2 ? 'a' : 'b', f1: i, f2: i * 2 }));
    const jsonl = await upload(records.map((r) => JSON.stringify(r)).join('\n'), 'application/x-ndjson', 'name=jl&label=target');
    expect(jsonl.status).toBe(201);
    expect(jsonl.body).toMatchObject({ format: 'jsonl', rows: 20, featureNames: ['f1', 'f2'], labelColumn: 'target', classNames: ['a', 'b'] });
    const json = await upload(JSON.stringify(records.map((r) => ({ ...r, f3: 1 }))), 'application/json', 'name=js&label=target');
    expect(json.status).toBe(201);
    expect(json.body.featureNames).toEqual(['f1', 'f2', 'f3']);
  });

  it('reads a number label as a regression target (declared or inferred) and trains on it with MSE', async () => {
    // y = 2a − b + 0.5 on a grid: non-integer targets, so the type is inferred as number.
    const lines = ['a,b,ignored,y'];
    for (let i = 0; i < 120; i++) {
      const a = (i % 12) / 4;
      const b = Math.floor(i / 12) / 5;
      lines.push(`${a},${b},${i},${(2 * a - b + 0.5).toFixed(4)}`);
    }
    const created = await upload(lines.join('\n'), 'text/csv', 'name=reg&label=y&features=a,b');
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ labelType: 'number', classNames: [], featureNames: ['a', 'b'], labelColumn: 'y', rows: 120 });
    // The same bytes read differently are a conflict, not a silent reuse of the first reading.
    const again = await upload(lines.join('\n'), 'text/csv', 'name=reg&label=y&labelType=class');
    expect(again.status).toBe(409);
    expect(again.body.detail).toContain('labelType number');

    const job = await api()
      .post('/v1/jobs')
      .send({ dataset: { name: 'upload', id: created.body.id }, model: { layers: [{ type: 'dense', units: 1 }] }, epochs: 40, batchSize: 12, learningRate: 0.05, seed: 1 });
    expect(job.status, JSON.stringify(job.body)).toBe(201);
    expect(job.body.spec.loss).toBe('meanSquaredError');
    const done = await waitFor('the regression job', async () => {
      const current = (await api().get(`/v1/jobs/${job.body.id}`)).body;
      return ['succeeded', 'failed'].includes(current.status) && current;
    });
    expect(done.status, JSON.stringify(done.failureReason)).toBe('succeeded');
    const last = (await api().get(`/v1/jobs/${job.body.id}/metrics?scope=epoch`)).body.data.at(-1).values;
    expect(last.val_mae).toBeLessThan(0.1);
    expect(last.val_accuracy).toBeUndefined();

    const wrongUnits = await api().post('/v1/jobs').send({ dataset: { name: 'upload', id: created.body.id }, model: { layers: [{ type: 'dense', units: 2 }] } });
    expect(wrongUnits.body.errors).toEqual([expect.objectContaining({ field: 'model.layers[0].units', message: expect.stringContaining('needs 1 units, one per target value') })]);
  });

  it('reads integer labels with few values as classes unless declared numbers', async () => {
    const body = ['x,grade', ...Array.from({ length: 30 }, (_, i) => `${i},${i % 3}`)].join('\n');
    const classes = await upload(body, 'text/csv', 'name=grades');
    expect(classes.body).toMatchObject({ labelType: 'class', classNames: ['0', '1', '2'] });
    const numbers = await upload(`${body}\n`, 'text/csv', 'name=grades-as-numbers&labelType=number');
    expect(numbers.body).toMatchObject({ labelType: 'number', classNames: [] });
    const bad = await upload('x,y\n1,2\n2,high\n', 'text/csv', 'name=t&labelType=number');
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0]).toMatchObject({ field: 'row 3, column "y"', message: expect.stringContaining('labelType is number') });
    const missing = await upload('x,y\n1,2\n2,3\n', 'text/csv', 'name=t&features=x,z');
    expect(missing.status).toBe(422);
    expect(missing.body.errors[0]).toMatchObject({ field: 'row 1, column "z"', message: expect.stringContaining('declared feature column is missing') });
  });

  it('streams a JSON array and names the element of a bad record', async () => {
    const records = Array.from({ length: 30 }, (_, i) => ({ f: i, label: i % 2 ? 'odd' : 'even' }));
    const good = await upload(JSON.stringify(records), 'application/json', 'name=arr');
    expect(good.status).toBe(201);
    expect(good.body).toMatchObject({ rows: 30, classNames: ['even', 'odd'] });
    const broken = await upload(JSON.stringify([...records.slice(0, 4), { f: 'four', label: 'even' }]), 'application/json', 'name=arr2');
    expect(broken.status).toBe(422);
    expect(broken.body.errors[0]).toMatchObject({ field: 'row 5, column "f"', message: expect.stringContaining('finite number') });
    const notArray = await upload('{"f": 1}', 'application/json', 'name=obj');
    expect(notArray.body.errors[0].message).toContain('must be an array of records');
    const truncated = await upload('[{"f": 1, "label": "a"}, {"f":', 'application/json', 'name=cut');
    expect(truncated.status).toBe(422);
    expect(truncated.body.errors[0].message).toMatch(/not valid JSON/);
  });

  it.each([
    ['an empty file', '', '(file)', /the file is empty/],
    ['a ragged row', 'a,b,label\n1,2,x\n3,y\n', 'row 3', /has 2 fields, the header has 3/],
    ['a non-numeric feature', 'a,b,label\n1,2,x\n3,oops,y\n', 'row 3, column "b"', /must be a finite number/],
    ['one class only', 'a,label\n1,x\n2,x\n', 'column "label"', /only one value/],
    ['an open quote', 'a,label\n1,"x\n2,y\n', 'row 2', /quoted field is not closed/],
  ])('rejects %s with 422 naming row and column', async (_what, body, field, message) => {
    const response = await upload(body);
    expect(response.status).toBe(422);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.body.errors[0]).toMatchObject({ field, message: expect.stringMatching(message) });
  });

  it('rejects a missing label column, naming the columns there are', async () => {
    const response = await upload('a,b\n1,2\n3,4\n', 'text/csv', 'name=t&label=species');
    expect(response.status).toBe(422);
    expect(response.body.errors[0].message).toContain('the label column is missing (columns: a, b)');
  });

  it('answers 413 beyond the limit and 415 for other types, leaving nothing half-written', async () => {
    const big = await upload(csv(2000));
    expect(big.status).toBe(413);
    expect((await api().post('/v1/datasets?name=t').set('content-type', 'text/plain').send('a,b')).status).toBe(415);
    const leftovers = readdirSync(harness.config.DATA_DIR).filter((entry) => entry.startsWith('.upload-'));
    expect(leftovers).toEqual([]);
  });

  it('checks a job spec against the upload: unknown id and wrong output units are 400', async () => {
    const unknown = await api().post('/v1/jobs').send(jobSpec('0193a1b2-0000-7000-8000-000000000000'));
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([expect.objectContaining({ field: 'dataset.id' })]);
    const { body } = await upload(csv(50, 7));
    const wrong = await api().post('/v1/jobs').send(jobSpec(body.id, 3));
    expect(wrong.status).toBe(400);
    expect(wrong.body.errors).toEqual([expect.objectContaining({ field: 'model.layers[1].units', message: expect.stringContaining('needs 2 units') })]);
  });

  it('refuses to delete a data set a waiting job uses (409), deletes it once the job is done', async () => {
    const { body: dataset } = await upload(csv(60, 3));
    await harness.services.queues.any.pause();
    let jobId: string;
    try {
      jobId = (await api().post('/v1/jobs').send(jobSpec(dataset.id))).body.id;
      const refused = await api().delete(`/v1/datasets/${dataset.id}`);
      expect(refused.status).toBe(409);
      expect(refused.body.detail).toContain(jobId);
    } finally {
      await harness.services.queues.any.resume();
    }
    await waitFor('the job', async () => ['succeeded', 'failed'].includes((await api().get(`/v1/jobs/${jobId!}`)).body.status));
    expect((await api().delete(`/v1/datasets/${dataset.id}`)).status).toBe(204);
    expect((await api().get(`/v1/datasets/${dataset.id}`)).status).toBe(404);
  });
});
