import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('apiaug');
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);
const cnn = { layers: [{ type: 'conv2d', filters: 4, kernelSize: 3 }, { type: 'flatten' }, { type: 'dense', units: 10 }] };

describe('augmentation at submission', () => {
  it('is a 400 naming the field on rows that are not images', async () => {
    const iris = await api().post('/v1/jobs').send(tinyIrisSpec({ augmentation: { horizontalFlip: {} } }));
    expect(iris.status).toBe(400);
    expect(iris.body.errors).toEqual([expect.objectContaining({ field: 'augmentation', message: expect.stringContaining('only for image inputs') })]);
    const vectors = await api()
      .post('/v1/jobs')
      .send({ dataset: { name: 'mnist', limit: 100 }, model: { layers: [{ type: 'dense', units: 10 }] }, augmentation: { randomCrop: { padding: 2 } } });
    expect(vectors.status).toBe(400);
    expect(vectors.body.errors).toEqual([expect.objectContaining({ field: 'augmentation', message: expect.stringContaining('mnist with shape "image"') })]);
  });

  it('is accepted for mnist images and echoed with its defaults', async () => {
    const created = await api()
      .post('/v1/jobs')
      .send({ dataset: { name: 'mnist', shape: 'image', limit: 100 }, model: cnn, epochs: 1, augmentation: { horizontalFlip: {}, contrast: { range: [0.8, 1.2] } } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.spec.augmentation).toEqual({ horizontalFlip: { probability: 0.5 }, contrast: { range: [0.8, 1.2] } });
  });
});
