import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { catalogueOptimizerDefaults } from '../support/catalogue.js';
import { tinyIrisSpec } from '../support/specs.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('apiopt');
});
afterAll(async () => harness?.close());

const post = (body: object) => request(harness.app.server).post('/v1/jobs').send(body);
const problems = (body: { errors?: { field: string; message: string }[] }) => body.errors ?? [];

describe('optimization options in the job spec', () => {
  it('echoes every optimizer with its catalogue defaults', async () => {
    for (const [name, config] of Object.entries(catalogueOptimizerDefaults)) {
      const response = await post(tinyIrisSpec({ optimizer: name as 'sgd', learningRate: undefined }));
      expect(response.status).toBe(201);
      expect(response.body.spec.optimizer).toEqual(config);
      expect(response.body.spec.learningRate).toBe(name.startsWith('adam') ? 0.001 : 0.01);
    }
  });

  it('resolves phases: each gets its last epoch and rate', async () => {
    const response = await post(
      tinyIrisSpec({ epochs: 10, learningRate: undefined, optimizer: [{ optimizer: 'adam', untilEpoch: 5 }, { optimizer: { type: 'momentum', momentum: 0.9 }, learningRate: 0.01 }] }),
    );
    expect(response.status).toBe(201);
    expect(response.body.spec.optimizer).toEqual([
      { optimizer: { type: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }, untilEpoch: 5, learningRate: 0.001 },
      { optimizer: { type: 'momentum', momentum: 0.9 }, untilEpoch: 10, learningRate: 0.01 },
    ]);
  });

  it('fills a schedule\'s η₀ from the linear scaling rule and echoes it', async () => {
    const response = await post(
      tinyIrisSpec({ optimizer: 'sgd', batchSize: 64, learningRate: { type: 'cosine', floor: 0 }, linearScaling: { baseBatchSize: 256, baseLearningRate: 0.4 } }),
    );
    expect(response.status).toBe(201);
    expect(response.body.spec.learningRate).toEqual({ type: 'cosine', floor: 0, initial: 0.1 });
  });

  it.each([
    ['a negative rate', { learningRate: -0.1 }, 'learningRate'],
    ['μ ≥ 1', { optimizer: { type: 'momentum', momentum: 1 } }, 'optimizer.momentum'],
    ['β outside [0, 1)', { optimizer: { type: 'adam', beta1: 1.2 } }, 'optimizer.beta1'],
    ['phases not ascending', { epochs: 10, optimizer: [{ optimizer: 'adam', untilEpoch: 6 }, { optimizer: 'sgd', untilEpoch: 4 }, { optimizer: 'sgd' }] }, 'optimizer[1].untilEpoch'],
    ['a phase missing its end', { epochs: 10, optimizer: [{ optimizer: 'adam' }, { optimizer: 'sgd' }] }, 'optimizer[0].untilEpoch'],
    ['a phase beyond the run', { epochs: 3, optimizer: [{ optimizer: 'adam', untilEpoch: 5 }, { optimizer: 'sgd' }] }, 'optimizer[0].untilEpoch'],
    ['warm-up beyond the run', { epochs: 2, learningRate: { type: 'constant', initial: 0.1, warmupSteps: 1000 } }, 'learningRate.warmupSteps'],
    ['a step schedule that never steps', { epochs: 3, learningRate: { type: 'step', initial: 0.1, everyEpochs: 5 } }, 'learningRate.everyEpochs'],
    ['decay steps beyond the run', { epochs: 1, learningRate: { type: 'exponential', initial: 0.1, decay: 0.9, decaySteps: 500 } }, 'learningRate.decaySteps'],
    ['a cosine floor above η₀', { learningRate: { type: 'cosine', initial: 0.01, floor: 0.1 } }, 'learningRate.floor'],
    ['a rate and linear scaling together', { learningRate: 0.1, linearScaling: { baseBatchSize: 32, baseLearningRate: 0.1 } }, 'learningRate'],
    ['an unknown schedule', { learningRate: { type: 'triangular', initial: 0.1 } }, 'learningRate'],
    ['negative clipNorm', { clipNorm: -1 }, 'clipNorm'],
    ['gradient noise with negative η', { gradientNoise: { eta: -0.3 } }, 'gradientNoise.eta'],
    ['divergence factor ≤ 1', { divergence: { factor: 1 } }, 'divergence.factor'],
    ['range test options on a training job', { lrRangeTest: { steps: 50 } }, 'lrRangeTest'],
    ['a range test sweeping downwards', { task: 'lrRangeTest', lrRangeTest: { minLearningRate: 1, maxLearningRate: 0.1 } }, 'lrRangeTest.maxLearningRate'],
  ])('rejects %s with 400 naming the field', async (_what, overrides, field) => {
    const response = await post(tinyIrisSpec(overrides as object));
    expect(response.status).toBe(400);
    expect(problems(response.body).map((p) => p.field)).toContain(field);
  });

  it('says the allowed range', async () => {
    const response = await post(tinyIrisSpec({ optimizer: { type: 'momentum', momentum: 1.5 } }));
    expect(problems(response.body)).toEqual([{ in: 'body', field: 'optimizer.momentum', message: expect.stringMatching(/<1/) }]);
  });

  it('puts nothing on the queue for a rejected spec', async () => {
    const before = await harness.services.queues.any.getJobCounts('waiting');
    await post(tinyIrisSpec({ optimizer: { type: 'momentum', momentum: 1 } }));
    expect(await harness.services.queues.any.getJobCounts('waiting')).toEqual(before);
  });
});
