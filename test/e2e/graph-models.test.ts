import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobSpecInput } from '../../src/spec/job-spec.js';
import { startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

/**
 * The graph and attention examples through the real service: submitted as they are, trained by a
 * worker (smaller here), and their exported model loaded by a process that has only TF.js and
 * custom-layers.ts, which must predict what POST /v1/jobs/{id}/predict does.
 */

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const example = (name: string) => JSON.parse(readFileSync(`${repoRoot}examples/${name}.json`, 'utf8')) as JobSpecInput;
const newExamples = ['resnet-mnist', 'transformer-classifier', 'transformer-copy', 'seq2seq-reverse'];

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('graphmodels');
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);

async function trained(spec: JobSpecInput): Promise<string> {
  const response = await api().post('/v1/jobs').send(spec);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  const id = response.body.id as string;
  const job = await waitFor(`job ${id}`, async () => {
    const body = (await api().get(`/v1/jobs/${id}`)).body;
    return ['succeeded', 'failed', 'cancelled'].includes(body.status) && body;
  });
  expect(job.status, job.failureReason).toBe('succeeded');
  return id;
}

/** What a separate Node process (@tensorflow/tfjs and custom-layers.ts, nothing else) predicts from the job's exported model, fetched over HTTP as docs/jobs.md says. */
async function predictElsewhere(id: string, inputs: number[][] | number[][][][]): Promise<{ backend: string; classNames: string[]; outputs: number[][] | number[][][] }> {
  const script = `
    import * as tf from '@tensorflow/tfjs';
    import './src/engine/layers/custom-layers.ts';
    const model = await tf.loadLayersModel(process.env.MODEL_URL);
    const inputs = JSON.parse(process.env.INPUTS);
    const topology = model.toJSON(null, false);
    process.stdout.write(JSON.stringify({
      backend: tf.getBackend(),
      classNames: topology.config.layers.map((layer) => layer.class_name),
      outputs: await model.predict(tf.tensor(inputs)).array(),
    }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repoRoot,
    env: { ...process.env, MODEL_URL: `${harness.baseUrl}/v1/jobs/${id}/model/model.json`, INPUTS: JSON.stringify(inputs) },
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout.slice(stdout.indexOf('{')));
}

const maxDifference = (a: number[], b: number[]) => {
  expect(a).toHaveLength(b.length);
  return Math.max(...a.map((value, i) => Math.abs(value - b[i]!)));
};

/** A seeded stream of numbers in [0, 1). */
function uniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('graph and attention examples through the service', () => {
  it.each(newExamples)('accepts examples/%s.json as it is', async (name) => {
    const response = await api().post('/v1/jobs').send(example(name));
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    expect(response.body.spec.model.layers).toHaveLength(example(name).model.layers.length);
    // No worker yet: cancel it before one starts, so only the smaller runs below train.
    expect((await api().post(`/v1/jobs/${response.body.id}/cancel`)).status).toBeLessThan(300);
    expect((await api().get(`/v1/jobs/${response.body.id}`)).body.status).toBe('cancelled');
  });

  it('trains the ResNet to well above chance, and its export predicts what /predict does', async () => {
    await harness.startWorker();
    const resnet = example('resnet-mnist');
    const id = await trained({
      ...resnet,
      dataset: { ...resnet.dataset, limit: 1500 } as JobSpecInput['dataset'],
      epochs: 3,
      model: { ...resnet.model, auxiliaryHeads: resnet.model.auxiliaryHeads!.map((head) => ({ ...head, decayToZeroByEpoch: 2 })) },
    });
    const epochs = (await api().get(`/v1/jobs/${id}/metrics?scope=epoch`)).body.data as { values: Record<string, number> }[];
    expect(epochs).toHaveLength(3);
    // The auxiliary head trained beside the model (its loss is reported) …
    expect(epochs[0]!.values.aux_b1_out_loss).toBeGreaterThan(0);
    // … and ten classes: chance is 0.1.
    expect(epochs.at(-1)!.values.test_accuracy).toBeGreaterThan(0.5);

    const next = uniform(1);
    const images = Array.from({ length: 3 }, () => Array.from({ length: 28 }, () => Array.from({ length: 28 }, () => [next()])));
    const served = await api().post(`/v1/jobs/${id}/predict`).send({ inputs: images });
    expect(served.status, JSON.stringify(served.body)).toBe(200);
    const elsewhere = await predictElsewhere(id, images);
    expect(elsewhere.backend).toBe('cpu');
    // The export is the model without its auxiliary head: the residual graph, merged by Add.
    expect(elsewhere.classNames).toContain('Add');
    expect(elsewhere.classNames).toContain('GlobalAveragePooling2D');
    expect(elsewhere.classNames.filter((name) => name === 'Dense')).toHaveLength(1);
    (served.body.predictions as { probabilities: number[] }[]).forEach((prediction, row) => {
      expect(maxDifference(prediction.probabilities, (elsewhere.outputs as number[][])[row]!)).toBeLessThan(1e-4);
    });
  });

  it.each(['transformer-classifier', 'transformer-copy'])('exports %s with its attention layers, which load with custom-layers.ts and predict what /predict does', async (name) => {
    const transformer = example(name);
    const id = await trained({ ...transformer, dataset: { ...transformer.dataset, rows: 400 } as JobSpecInput['dataset'], epochs: 2 });
    const next = uniform(2);
    // Token ids 0 … 17, 40 steps (2·length + delay).
    const sequences = Array.from({ length: 3 }, () => Array.from({ length: 40 }, () => Math.floor(next() * 18)));
    const served = await api().post(`/v1/jobs/${id}/predict`).send({ inputs: sequences });
    expect(served.status, JSON.stringify(served.body)).toBe(200);
    const elsewhere = await predictElsewhere(id, sequences as unknown as number[][]);
    expect(elsewhere.classNames).toEqual(expect.arrayContaining(['TrainyardPositionalEmbedding', 'TrainyardTransformerEncoderBlock']));
    (served.body.predictions as { probabilities: number[][] }[]).forEach((prediction, row) => {
      // A class per step: 40 distributions over the 17 classes.
      expect(prediction.probabilities).toHaveLength(40);
      expect(maxDifference(prediction.probabilities.flat(), (elsewhere.outputs as number[][][])[row]!.flat())).toBeLessThan(1e-4);
    });
  });

  it('pretrains an encoder and a decoder as language models, starts seq2seq-reverse from both, and /predict decodes sources greedily as the export does', async () => {
    const seq2seq = example('seq2seq-reverse');
    const layers = seq2seq.model.layers;
    const named = (name: string) => layers.find((layer) => layer.name === name)!;
    const dataset = (view: 'source' | 'target') => ({ ...seq2seq.dataset, view, rows: 1500 }) as JobSpecInput['dataset'];
    const languageModel = (prefix: 'encoder' | 'decoder', view: 'source' | 'target'): JobSpecInput => ({
      ...seq2seq,
      dataset: dataset(view),
      epochs: 2,
      model: {
        layers: [
          { ...named(`${prefix}_tokens`), inputs: undefined },
          named(`${prefix}_positions`),
          { type: 'transformerEncoder', name: `${prefix}_block`, numHeads: 4, ffDim: 64, causal: true },
          { type: 'dense', name: `${prefix}_classifier`, units: 11, activation: 'softmax' },
        ],
      },
    });
    const [encoder, decoder] = await Promise.all([trained(languageModel('encoder', 'source')), trained(languageModel('decoder', 'target'))]);
    const id = await trained({ ...seq2seq, dataset: { ...seq2seq.dataset, rows: 2000 } as JobSpecInput['dataset'], epochs: 4, init: { from: [{ job: encoder }, { job: decoder }] } });

    const job = (await api().get(`/v1/jobs/${id}`)).body;
    expect(job.spec.init).toMatchObject({ from: { job: encoder }, alsoFrom: [{ job: decoder, layers: ['decoder_tokens', 'decoder_positions', 'decoder_block', 'decoder_classifier'] }] });
    expect(job.spec.init.fresh).toContain('decoder_block/cross_attention/query/kernel');
    const events = (await api().get(`/v1/jobs/${id}/events`)).body.data as { type: string; data: { alsoFrom?: { job: string }[] } }[];
    expect(events.find((event) => event.type === 'transfer')!.data.alsoFrom).toEqual([expect.objectContaining({ job: decoder })]);

    const next = uniform(3);
    const sources = Array.from({ length: 20 }, () => Array.from({ length: 8 }, () => 1 + Math.floor(next() * 10)));
    const served = await api().post(`/v1/jobs/${id}/predict`).send({ inputs: sources });
    expect(served.status, JSON.stringify(served.body)).toBe(200);
    const decoded = (served.body.predictions as { class: number[]; probabilities: number[][] }[]).map((prediction) => prediction.class);
    const right = decoded.flatMap((tokens, row) => tokens.map((token, t) => token === sources[row]![7 - t]));
    expect(right.filter(Boolean).length / right.length).toBeGreaterThan(0.9);

    // Teacher-forced on its own answer, the exported model gives each step what decoding saw at that step: the decoder is causal.
    const forced = sources.slice(0, 3).map((source, row) => [...source, 11, ...decoded[row]!.slice(0, 7)]);
    const elsewhere = await predictElsewhere(id, forced);
    expect(elsewhere.classNames).toEqual(expect.arrayContaining(['TrainyardTimeSlice', 'TrainyardTransformerDecoderBlock']));
    (served.body.predictions as { probabilities: number[][] }[]).slice(0, 3).forEach((prediction, row) => {
      expect(maxDifference(prediction.probabilities.flat(), (elsewhere.outputs as number[][][])[row]!.flat())).toBeLessThan(1e-4);
    });

    const wrongToken = await api().post(`/v1/jobs/${id}/predict`).send({ inputs: [[1, 2, 3, 4, 5, 6, 7, 12]] });
    expect(wrongToken.status).toBe(400);
    expect(wrongToken.body.errors).toEqual([{ field: 'inputs[0]', message: 'token ids are integers 0 … 11; position 7 holds 12' }]);
    const wrongLength = await api().post(`/v1/jobs/${id}/predict`).send({ inputs: [forced[0]] });
    expect(wrongLength.status).toBe(400);
    expect(wrongLength.body.errors[0].message).toContain('expected shape [8]');
    const sampled = await api().post(`/v1/jobs/${id}/predict`).send({ inputs: [sources[0]], uncertainty: { method: 'mcDropout' } });
    expect(sampled.status).toBe(422);
    expect(sampled.body.detail).toContain('decoded greedily');
  });
});
