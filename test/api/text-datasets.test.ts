import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('text-datasets', { TRAINYARD_BACKEND: 'wasm' });
  await harness.startWorker();
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);
const upload = (body: string, query: string, type = 'text/csv') => api().post(`/v1/datasets?${query}`).set('content-type', type).send(body);
const finished = (id: string) =>
  waitFor(`job ${id}`, async () => {
    const job = (await api().get(`/v1/jobs/${id}`)).body;
    return ['succeeded', 'failed', 'cancelled'].includes(job.status) && job;
  });

// Reviews a person could write: the class shows in a few words among neutral ones, in any case,
// with punctuation; a CSV with the text quoted and an id column the set ignores.
const good = ['great', 'loved', 'wonderful', 'superb', 'enjoyable'];
const bad = ['awful', 'boring', 'terrible', 'dull', 'hated'];
const filler = ['the', 'film', 'plot', 'actors', 'was', 'and', 'a', 'story', 'really', 'it'];
function review(i: number): { text: string; sentiment: string } {
  const positive = i % 2 === 0;
  const words = Array.from({ length: 6 + (i % 5) }, (_, j) => filler[(i * 7 + j * 3) % filler.length]!);
  const key = (positive ? good : bad)[(i * 3) % 5]!;
  words.splice((i * 5) % words.length, 0, i % 3 === 0 ? key.toUpperCase() : key);
  return { text: `${words.join(' ')}${i % 4 === 0 ? '!' : '.'}`, sentiment: positive ? 'positive' : 'negative' };
}
const reviews = Array.from({ length: 400 }, (_, i) => review(i));
const reviewsCsv = ['id,review,sentiment', ...reviews.map((r, i) => `${i},"${r.text}",${r.sentiment}`)].join('\n');

const model = (inputDim: number) => ({ layers: [{ type: 'embedding', inputDim, outputDim: 8 }, { type: 'globalAvgPool' }, { type: 'dense', units: 2 }] });

describe('text data sets', () => {
  let datasetId: string;

  it('stores a CSV with a text column and shows sample rows and class counts', async () => {
    const created = await upload(reviewsCsv, 'name=reviews&text=review&label=sentiment');
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ rows: 400, featureNames: ['review'], textColumn: 'review', labelColumn: 'sentiment', classNames: ['negative', 'positive'], inputShape: null });
    datasetId = created.body.id;
    const detail = await api().get(`/v1/datasets/${datasetId}`);
    expect(detail.status).toBe(200);
    expect(detail.body.splits.train.classCounts).toEqual({ negative: 200, positive: 200 });
    // Counted once at upload with the default tokenizer, to choose vocabularySize and length by.
    const lengths = reviews.map((r) => r.text.split(' ').length).sort((a, b) => a - b);
    expect(created.body.textStats).toMatchObject({
      tokenizer: 'words',
      lowercase: true,
      distinctTokens: 20,
      tokensPerRow: { mean: Math.round((lengths.reduce((a, b) => a + b, 0) / 400) * 10) / 10, median: lengths[200], max: lengths.at(-1) },
    });
    expect(created.body.textStats.mostFrequent).toHaveLength(20);
    expect(created.body.textStats.mostFrequent[0].count).toBeGreaterThanOrEqual(created.body.textStats.mostFrequent[19].count);
    const shown = detail.body.samples.rows as Record<string, string>[];
    expect(shown.length).toBeGreaterThan(0);
    for (const row of shown) {
      expect(Object.keys(row).sort()).toEqual(['review', 'sentiment']);
      expect(reviews).toContainEqual({ text: row.review, sentiment: row.sentiment });
    }
    // The same bytes read as numbers are another reading of them: 409, not a silent second meaning.
    expect((await upload(reviewsCsv, 'name=again&label=sentiment')).status).toBe(409);
    expect((await upload(reviewsCsv, 'name=again&text=review&label=sentiment')).status).toBe(200);
  });

  it('trains on it with a vocabulary fitted on the training rows, and predicts from raw text', async () => {
    const submitted = await api()
      .post('/v1/jobs')
      .send({ dataset: { name: 'upload', id: datasetId, text: { vocabularySize: 40, length: 12 } }, model: model(42), epochs: 30, batchSize: 32, learningRate: 0.05, optimizer: 'adam', seed: 3 });
    expect(submitted.status).toBe(201);
    // Every default filled in, as for the rest of the spec.
    expect(submitted.body.spec.dataset.text).toEqual({ tokenizer: 'words', lowercase: true, vocabularySize: 40, minCount: 1, length: 12, padding: 'end' });
    const job = await finished(submitted.body.id);
    expect(job.status).toBe('succeeded');
    const metrics = (await api().get(`/v1/jobs/${job.id}/metrics?scope=epoch`)).body.data;
    expect(metrics.at(-1).values.val_accuracy).toBeGreaterThan(0.95);

    const events = (await api().get(`/v1/jobs/${job.id}/events`)).body.data as { type: string; data: Record<string, unknown> }[];
    const fitted = events.find((e) => e.type === 'preprocessing')!.data as { vocabulary: { size: number; distinctTokens: number; mostFrequent: string[] } };
    // 10 filler + 10 sentiment words, all lower-cased, no punctuation.
    expect(fitted.vocabulary.distinctTokens).toBe(20);
    expect(fitted.vocabulary.size).toBe(20);
    expect(fitted.vocabulary.mostFrequent.every((token) => /^[a-z]+$/.test(token))).toBe(true);

    // The vocabulary is in the model's files, so the model can be used outside the service too.
    const file = await api().get(`/v1/jobs/${job.id}/model/preprocessing.json`);
    expect(file.status).toBe(200);
    expect(file.body.preprocessing.text).toMatchObject({ vocabularySize: 40, length: 12 });
    expect([...file.body.preprocessing.tokens].sort()).toEqual([...good, ...bad, ...filler].sort());

    const predicted = await api()
      .post(`/v1/jobs/${job.id}/predict`)
      .send({ inputs: ['What a WONDERFUL story, I loved it!', 'Dull and boring; I hated the actors.', 'never seen words here'] });
    expect(predicted.status).toBe(200);
    expect(predicted.body.predictions.slice(0, 2).map((p: { label: string }) => p.label)).toEqual(['positive', 'negative']);
    expect(predicted.body.predictions[2].probabilities).toHaveLength(2);

    const numbers = await api().post(`/v1/jobs/${job.id}/predict`).send({ inputs: ['fine', [1, 2, 3]] });
    expect(numbers.status).toBe(400);
    expect(numbers.body.errors).toEqual([{ field: 'inputs[1]', message: expect.stringContaining('trained on text: each input is a string') }]);
  });

  it('refuses specs that do not fit a text set, naming the field', async () => {
    const base = { dataset: { name: 'upload', id: datasetId }, epochs: 1, seed: 1 };
    const expectField = async (spec: Record<string, unknown>, field: string, message: RegExp) => {
      const response = await api().post('/v1/jobs').send({ ...base, ...spec });
      expect(response.status).toBe(400);
      expect(response.body.errors).toContainEqual(expect.objectContaining({ field, message: expect.stringMatching(message) }));
    };
    // The default vocabulary is 20 000 tokens: ids 0 … 20 001.
    await expectField({ model: model(1000) }, 'model.layers[0].inputDim', /20002 token ids/);
    await expectField({ model: { layers: [{ type: 'dense', units: 2 }] } }, 'model.layers[0]', /token ids/);
    await expectField({ model: model(20_002), preprocessing: { features: 'standardize' } }, 'preprocessing.features', /no features to scale/);
    await expectField({ model: model(42), dataset: { ...base.dataset, text: { vocabularySize: 0 } } }, 'dataset.text.vocabularySize', /./);

    const table = await upload('a,b,label\n1,2,x\n3,4,y\n5,6,x\n', 'name=numbers');
    await expectField({ model: model(42), dataset: { name: 'upload', id: table.body.id, text: {} } }, 'dataset.text', /not a text set/);
  });

  it.each([
    ['a missing text column', 'a,label\nhi,x\nho,y\n', 'name=t&text=review', 'row 1, column "review"', /text column is missing/],
    ['the label as the text', 'review,label\nhi,x\nho,y\n', 'name=t&text=label', 'row 1, column "label"', /cannot also be the text/],
    ['a NUL in a text', 'review,label\nhi,x\n"h\u0000o",y\n', 'name=t&text=review', 'row 3, column "review"', /NUL/],
  ])('rejects %s with 422 naming row and column', async (_what, body, query, field, message) => {
    const response = await upload(body, query);
    expect(response.status).toBe(422);
    expect(response.body.errors[0]).toMatchObject({ field, message: expect.stringMatching(message) });
  });

  it('refuses text with features (400) and an object as a JSON text (422)', async () => {
    const both = await upload('review,label\nhi,x\nho,y\n', 'name=t&text=review&features=review');
    expect(both.status).toBe(400);
    expect(both.body.errors).toEqual([{ field: 'features', message: 'not with text' }]);
    const records = [{ review: 'fine', label: 'x' }, { review: { nested: true }, label: 'y' }].map((r) => JSON.stringify(r)).join('\n');
    const object = await upload(records, 'name=t&text=review', 'application/x-ndjson');
    expect(object.status).toBe(422);
    expect(object.body.errors[0]).toMatchObject({ field: 'row 2, column "review"', message: expect.stringContaining('must be a string') });
  });
});
