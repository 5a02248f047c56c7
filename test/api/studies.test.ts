import { readdirSync, readFileSync } from 'node:fs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { collectStudyStream } from '../support/stream-client.js';
import { tinyAshaStudy, tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('studies', { TRAINYARD_BACKEND: 'wasm', WORKER_CONCURRENCY: '2' });
  await harness.startWorker();
  harness.startScheduler();
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);
const binary = (response: request.Response, done: (error: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  const stream = response as unknown as NodeJS.ReadableStream;
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
};

interface TrialBody {
  number: number;
  jobId: string;
  state: string;
  jobStatus: string;
  params: Record<string, unknown>;
  targetEpoch: number;
  epochsTrained: number;
  results: { epoch: number; value: number; rung?: number }[];
  lineage: { epoch: number; fromTrial: number; fromEpoch: number; job: string; previousJob: string; params: Record<string, unknown> }[];
  reason: string | null;
}
interface StudyBody {
  id: string;
  status: string;
  reason: string | null;
  best: { trial: number; value: number; epoch: number; jobId: string } | null;
  trials: TrialBody[];
  compute: { trialEpochs: number; fullTrainingEpochs: number; trialSeconds: number };
  spec: { maxTrials: number; maxEpochs: number; seed: number };
}

const study = async (id: string) => (await api().get(`/v1/studies/${id}`)).body as StudyBody;
const ended = (id: string) =>
  waitFor(`study ${id} to end`, async () => {
    const current = await study(id);
    return ['succeeded', 'failed', 'cancelled'].includes(current.status) && current;
  });

const base = (overrides = {}) => tinyIrisSpec({ epochs: 9, batchSize: 16, logEveryBatches: 0, ...overrides });

describe('POST /v1/studies refuses a space that makes an invalid job spec, naming the field', () => {
  const cases: [string, object, string][] = [
    ['a rate outside its range', { space: { 'model.layers[0].units': { type: 'int', low: 0, high: 4 } } }, 'space.model.layers[0].units'],
    ['a field the spec does not have', { space: { 'optimizer.learningRate': { type: 'logUniform', low: 1e-4, high: 1 } } }, 'space.optimizer.learningRate'],
    ['a layer that does not exist', { space: { 'model.layers[7].rate': { type: 'uniform', low: 0, high: 0.5 } } }, 'space.model.layers[7].rate'],
    ['low above high', { space: { learningRate: { type: 'uniform', low: 0.5, high: 0.1 } } }, 'space.learningRate.high'],
    ['a continuous parameter in a grid', { algorithm: { type: 'grid' }, space: { learningRate: { type: 'uniform', low: 0.01, high: 0.1 } } }, 'space.learningRate'],
    ['a choice with an invalid optimizer', { space: { optimizer: { type: 'choice', values: ['adam', 'lbfgs'] } } }, 'space.optimizer'],
    ['val_accuracy without validation', { base: base({ validationSplit: 0 }) }, 'objective.metric'],
    ['mae on a classification', { objective: { metric: 'val_mae' } }, 'objective.metric'],
    ['epochs searched by asha', { space: { epochs: { type: 'int', low: 1, high: 5 } } }, 'space.epochs'],
    ['a path that is not a path', { space: { 'layers..x': { type: 'uniform', low: 0, high: 1 } } }, 'space'],
    ['pbt over a layer width', { algorithm: { type: 'pbt', population: 4 }, space: { 'model.layers[0].units': { type: 'int', low: 4, high: 8 } } }, 'space.model.layers[0].units'],
  ];
  for (const [what, overrides, field] of cases) {
    it(what, async () => {
      const response = await api()
        .post('/v1/studies')
        .send({ base: base(), space: { learningRate: { type: 'logUniform', low: 1e-3, high: 0.3 } }, objective: { metric: 'val_accuracy' }, algorithm: { type: 'asha' }, ...overrides });
      expect(response.status, JSON.stringify(response.body)).toBe(400);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.body.errors.map((e: { field: string }) => e.field).join(' ')).toContain(field);
    });
  }

  it('is 404 for a study of another project or none', async () => {
    expect((await api().get('/v1/studies/0193a1b2-0000-7000-8000-000000000000')).status).toBe(404);
    expect((await api().get('/v1/studies/nope')).status).toBe(404);
  });
});

describe('examples/studies', () => {
  it('are accepted as they are', async () => {
    const folder = new URL('../../examples/studies/', import.meta.url);
    const files = readdirSync(folder).filter((file) => file.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const created = await api().post('/v1/studies').send(JSON.parse(readFileSync(new URL(file, folder), 'utf8')));
      expect(created.status, `${file}: ${JSON.stringify(created.body)}`).toBe(201);
      expect((await api().post(`/v1/studies/${created.body.id}/cancel`)).status).toBe(200);
    }
  });
});

describe('ASHA', () => {
  it('promotes from checkpoints, stops the rest with a reason, and ends with the best trial', async () => {
    const created = await api()
      .post('/v1/studies')
      .send(tinyAshaStudy({ name: 'asha iris', epochs: 9, maxTrials: 9, seed: 11 }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.headers.location).toBe(`/v1/studies/${created.body.id}`);
    // Followed live from the start: every event once, in order, and closed when the study ends.
    const live = collectStudyStream(harness.baseUrl, created.body.id, { timeoutMs: 240_000 });
    expect(created.body.spec).toMatchObject({ maxTrials: 9, maxEpochs: 9, objective: { metric: 'val_accuracy', mode: 'max' }, algorithm: { type: 'asha', reductionFactor: 3, minEpochs: 1, brackets: 1 } });

    const done = await ended(created.body.id);
    expect(done.status).toBe('succeeded');
    expect(done.trials).toHaveLength(9);
    // Rungs at epochs 1 and 3; the end at 9. Of 9 trials, the top 3 reach epoch 3 and the top 1 of those the end.
    const byEpochs = done.trials.map((trial) => trial.results.at(-1)!.epoch).sort((a, b) => a - b);
    expect(byEpochs).toEqual([1, 1, 1, 1, 1, 1, 3, 3, 9]);
    for (const trial of done.trials) {
      const last = trial.results.at(-1)!.epoch;
      if (last < 9) {
        expect(trial.state).toBe('stopped');
        expect(trial.jobStatus).toBe('stopped');
        expect(trial.reason).toMatch(/^stopped at rung \d \(epoch \d\): val_accuracy [\d.]+ ranks \d of \d/);
      } else {
        expect(trial.state).toBe('completed');
        expect(trial.jobStatus).toBe('succeeded');
      }
      // A promoted trial never retrained an epoch: what it trained is where it got to.
      expect(trial.epochsTrained).toBe(last);
    }
    expect(done.compute.trialEpochs).toBe(6 * 1 + 2 * 3 + 9);
    expect(done.compute.fullTrainingEpochs).toBe(81);
    expect(done.best).not.toBeNull();
    const events = (await api().get(`/v1/studies/${done.id}/events`)).body.data as { type: string; data: Record<string, unknown> }[];
    expect(events.filter((e) => e.type === 'trialStarted')).toHaveLength(9);
    // Never promoted or stopped twice.
    const promotions = events.filter((e) => e.type === 'promoted').map((e) => `${e.data.trial}@${e.data.fromEpoch}`);
    expect(new Set(promotions).size).toBe(promotions.length);
    expect(promotions).toHaveLength(3 + 1);
    expect(events.filter((e) => e.type === 'stopped')).toHaveLength(8);
    expect(events.at(-1)).toMatchObject({ type: 'status', data: { status: 'succeeded' } });
    // Decisions name their rung (0 = first) as the results do, so no reader parses the reason.
    expect(events.filter((e) => e.type === 'promoted').map((e) => e.data.rung).sort()).toEqual([0, 0, 0, 1]);
    for (const stop of events.filter((e) => e.type === 'stopped')) expect([0, 1]).toContain(stop.data.rung);
    expect(done.reason).toMatch(/best: trial \d+, val_accuracy (1|0\.\d{1,4}) at epoch 9$/);

    const followed = await live;
    expect(followed.closeCode).toBe(1000);
    expect(followed.messages.map((m) => m.seq)).toEqual(events.map((e) => (e as unknown as { seq: number }).seq));
    // Replayed after it ended: the rest, then closed; after its last event: closed at once.
    const replay = await collectStudyStream(harness.baseUrl, done.id, { after: 2, timeoutMs: 10_000 });
    expect(replay).toMatchObject({ closeCode: 1000 });
    expect(replay.messages.map((m) => m.seq)).toEqual(events.slice(2).map((e) => (e as unknown as { seq: number }).seq));
    const nothingLeft = await collectStudyStream(harness.baseUrl, done.id, { after: (events.at(-1) as unknown as { seq: number }).seq, timeoutMs: 10_000 });
    expect(nothingLeft).toMatchObject({ closeCode: 1000, messages: [] });

    // The promoted job is one job that paused and went on, not three.
    const winner = done.trials.find((trial) => trial.state === 'completed')!;
    const jobEvents = (await api().get(`/v1/jobs/${winner.jobId}/events?limit=1000`)).body.data as { type: string; data: Record<string, unknown> }[];
    expect(jobEvents.filter((e) => e.type === 'status').map((e) => e.data.status)).toEqual(['queued', 'running', 'paused', 'queued', 'running', 'paused', 'queued', 'running', 'succeeded']);
    expect(jobEvents.filter((e) => e.type === 'resumed').map((e) => e.data.fromEpoch)).toEqual([1, 3]);

    // Bit for bit the weights of the same spec trained straight to the end (one backend: wasm).
    const spec = (await api().get(`/v1/jobs/${winner.jobId}`)).body.spec;
    const straight = await api().post('/v1/jobs').send(spec);
    expect(straight.status).toBe(201);
    await waitFor('the straight run', async () => (await api().get(`/v1/jobs/${straight.body.id}`)).body.status === 'succeeded');
    const weights = async (id: string) => (await api().get(`/v1/jobs/${id}/model/weights.bin`).buffer(true).parse(binary)).body as Buffer;
    const [promoted, trainedStraight] = await Promise.all([weights(winner.jobId), weights(straight.body.id)]);
    expect(promoted.length).toBeGreaterThan(0);
    expect(promoted.equals(trainedStraight)).toBe(true);
  });
});

const create = async (body: object) => {
  const response = await api().post('/v1/studies').send(body);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body as StudyBody;
};

describe('grid and random', () => {
  it('grid trains every combination to the end', async () => {
    const created = await create({
      base: base({ epochs: 2 }),
      space: { learningRate: { type: 'choice', values: [0.01, 0.1] }, batchSize: { type: 'choice', values: [8, 16] } },
      objective: { metric: 'val_loss' },
      algorithm: { type: 'grid' },
    });
    expect(created.spec).toMatchObject({ maxTrials: 4, objective: { mode: 'min' } });
    const done = await ended(created.id);
    expect(done.status).toBe('succeeded');
    const points = done.trials.map((trial) => `${trial.params.batchSize}/${trial.params.learningRate}`).sort();
    expect(points).toEqual(['16/0.01', '16/0.1', '8/0.01', '8/0.1']);
    for (const trial of done.trials) {
      expect(trial).toMatchObject({ state: 'completed', jobStatus: 'succeeded', epochsTrained: 2 });
      const job = (await api().get(`/v1/jobs/${trial.jobId}`)).body;
      expect(job.spec).toMatchObject({ learningRate: trial.params.learningRate, batchSize: trial.params.batchSize, epochs: 2 });
    }
    expect(done.compute).toMatchObject({ trialEpochs: 8, fullTrainingEpochs: 8 });
    const values = done.trials.map((trial) => trial.results.at(-1)!.value);
    expect(done.best!.value).toBe(Math.min(...values));
  });

  it('random search stops starting trials once the trial-epoch budget is spent, and draws the same trials from the same seed', async () => {
    const body = {
      base: base({ epochs: 3 }),
      space: { learningRate: { type: 'logUniform', low: 1e-3, high: 0.3 }, 'model.layers[0].units': { type: 'int', low: 4, high: 16 } },
      objective: { metric: 'accuracy' },
      algorithm: { type: 'random' },
      maxTrials: 10,
      budget: { trialEpochs: 7 },
      seed: 5,
    };
    const done = await ended((await create(body)).id);
    expect(done.status).toBe('succeeded');
    expect(done.trials).toHaveLength(2);
    expect(done.reason).toContain('trial-epoch budget is spent');
    const again = await ended((await create(body)).id);
    expect(again.trials.map((trial) => trial.params)).toEqual(done.trials.map((trial) => trial.params));
    // Each trial's job has the trial's values at their paths.
    const job = (await api().get(`/v1/jobs/${done.trials[0]!.jobId}`)).body;
    expect(job.spec.model.layers[0].units).toBe(done.trials[0]!.params['model.layers[0].units']);
  });
});

describe('PBT', () => {
  it("exploits a top trial's checkpoint and explores, with the lineage recorded", async () => {
    const created = await create({
      base: base({ epochs: 4 }),
      space: { learningRate: { type: 'logUniform', low: 1e-4, high: 0.3 } },
      objective: { metric: 'val_loss' },
      algorithm: { type: 'pbt', population: 4, perturbationInterval: 1, quantileFraction: 0.25, resampleProbability: 0.25 },
      maxConcurrentTrials: 2,
      seed: 3,
    });
    const done = await ended(created.id);
    expect(done.status).toBe('succeeded');
    expect(done.trials).toHaveLength(4);
    for (const trial of done.trials) expect(trial).toMatchObject({ state: 'completed', jobStatus: 'succeeded' });
    const exploits = done.trials.flatMap((trial) => trial.lineage.map((step) => ({ trial, step })));
    expect(exploits.length).toBeGreaterThan(0);
    for (const { trial, step } of exploits) {
      expect(step.fromTrial).not.toBe(trial.number);
      // The new job started from the donor's checkpoint at fromEpoch, with the explored values.
      const events = (await api().get(`/v1/jobs/${step.job}/events?limit=1000`)).body.data as { type: string; data: Record<string, unknown> }[];
      expect(events.find((e) => e.type === 'resumed')?.data.fromEpoch).toBe(step.fromEpoch);
      const job = (await api().get(`/v1/jobs/${step.job}`)).body;
      expect(job.spec.learningRate).toBeCloseTo(step.params.learningRate as number, 12);
      const left = (await api().get(`/v1/jobs/${step.previousJob}`)).body;
      expect(left.status).toBe('stopped');
    }
    const log = (await api().get(`/v1/studies/${done.id}/events?limit=1000`)).body.data as { type: string }[];
    expect(log.filter((e) => e.type === 'exploited')).toHaveLength(exploits.length);
  });
});

describe('actions', () => {
  it('pause stops starting and pauses the trials; resume goes on; train-best trains the best spec', async () => {
    const created = await create({
      base: base({ epochs: 40, batchSize: 4 }),
      space: { learningRate: { type: 'choice', values: [0.01, 0.05] } },
      objective: { metric: 'val_accuracy' },
      algorithm: { type: 'grid' },
      maxConcurrentTrials: 1,
    });
    await waitFor('a trial training', async () => (await study(created.id)).trials.some((trial) => trial.jobStatus === 'running'));
    const paused = await api().post(`/v1/studies/${created.id}/pause`);
    expect(paused.status).toBe(200);
    expect(paused.body.status).toBe('paused');
    expect((await api().post(`/v1/studies/${created.id}/pause`)).status).toBe(409);
    await waitFor('its trial paused', async () => (await study(created.id)).trials.every((trial) => trial.jobStatus === 'paused'));
    expect((await study(created.id)).trials).toHaveLength(1);
    expect((await api().post(`/v1/studies/${created.id}/resume`)).body.status).toBe('running');
    const done = await ended(created.id);
    expect(done.status).toBe('succeeded');
    expect(done.trials.map((trial) => trial.state)).toEqual(['completed', 'completed']);

    const best = await api().post(`/v1/studies/${created.id}/train-best`).send({ epochs: 2 });
    expect(best.status, JSON.stringify(best.body)).toBe(201);
    expect(best.body.spec).toMatchObject({ epochs: 2, learningRate: done.trials[done.best!.trial - 1]!.params.learningRate });
    expect((await study(created.id)) as unknown as { finalJobId: string }).toMatchObject({ finalJobId: best.body.id });
  });

  it('cancel cancels every trial that has not ended', async () => {
    const created = await create({
      base: base({ epochs: 200, batchSize: 4 }),
      space: { learningRate: { type: 'logUniform', low: 1e-3, high: 0.1 } },
      objective: { metric: 'val_accuracy' },
      algorithm: { type: 'asha', minEpochs: 100 },
      maxTrials: 4,
      maxConcurrentTrials: 2,
    });
    await waitFor('trials training', async () => (await study(created.id)).trials.filter((trial) => trial.jobStatus === 'running').length > 0);
    const cancelled = await api().post(`/v1/studies/${created.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    const done = await waitFor('trial jobs cancelled', async () => {
      const current = await study(created.id);
      return current.trials.every((trial) => trial.jobStatus === 'cancelled') && current;
    });
    expect(done.trials.every((trial) => trial.state === 'cancelled')).toBe(true);
    expect(done.trials.length).toBeLessThanOrEqual(2);
    expect((await api().post(`/v1/studies/${created.id}/resume`)).status).toBe(409);
  });

  it('cancel sent while the scheduler starts trials leaves no trial training', async () => {
    let trialsSeen = 0;
    for (let round = 0; round < 5; round += 1) {
      const created = await create({
        base: base({ epochs: 200, batchSize: 4 }),
        space: { learningRate: { type: 'logUniform', low: 1e-3, high: 0.1 } },
        objective: { metric: 'val_accuracy' },
        algorithm: { type: 'random' },
        maxTrials: 4,
        maxConcurrentTrials: 2,
      });
      // Round 0 cancels at once; the others the moment the first trial shows, while the scheduler
      // is likely starting the second in the same look.
      if (round > 0) await waitFor('a trial started', async () => (await study(created.id)).trials.length > 0, 150_000, 5);
      expect((await api().post(`/v1/studies/${created.id}/cancel`)).status).toBe(200);
      const done = await waitFor('every trial job ended', async () => {
        const current = await study(created.id);
        return current.trials.every((trial) => ['cancelled', 'stopped', 'failed', 'succeeded'].includes(trial.jobStatus)) && current;
      });
      for (const trial of done.trials) expect(trial, `round ${round}`).toMatchObject({ state: 'cancelled', jobStatus: 'cancelled' });
      trialsSeen += done.trials.length;
    }
    expect(trialsSeen).toBeGreaterThanOrEqual(4);
  });
});
