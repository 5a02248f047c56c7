import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import { namedWeights, type CheckpointData } from '../../src/engine/checkpoint-data.js';
import { seq2seqTarget, seq2seqTask } from '../../src/engine/datasets/sequences.js';
import { buildModel } from '../../src/engine/model-builder.js';
import { loadStartingWeights } from '../../src/engine/transfer.js';
import { describeDataset } from '../../src/spec/dataset-spec.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import { planTransfer, type SourceCheckpoint, type TransferPlan } from '../../src/spec/transfer-plan.js';
import { testBackend } from '../support/test-backend.js';
import { collectRun, epochMetrics, weightsByName, type CollectedRun } from '../support/training-run.js';

/**
 * Encoder–decoder models on the seq2seq tasks: the data set's views, teacher forcing through a
 * time-sliced input, and the recipe of pretraining the encoder and the decoder as language models
 * and starting the seq2seq model from both (init.from with two sources, cross-attention fresh).
 */

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

type LayerSpec = JobSpecInput['model']['layers'][number];

const L = 5;
const SYMBOLS = 6;
const ENCODER_JOB = '0193a1b2-0000-7000-8000-00000000000a';
const DECODER_JOB = '0193a1b2-0000-7000-8000-00000000000b';
const CHECKPOINT = '0193a1b2-0000-7000-8000-00000000000c';

const side = (prefix: 'encoder' | 'decoder', input: string): LayerSpec[] => [
  { type: 'embedding', name: `${prefix}_tokens`, inputs: [input], inputDim: SYMBOLS + 2, outputDim: 16 },
  { type: 'positionalEmbedding', name: `${prefix}_positions`, mode: 'learned' },
];
const block = { numHeads: 2, ffDim: 32 } as const;

const run = (view: 'pairs' | 'source' | 'target', layers: LayerSpec[], extra: Partial<JobSpecInput> = {}): JobSpecInput => ({
  dataset: { name: 'seq2seq', task: 'sort', rows: 600, symbols: SYMBOLS, length: L, view },
  model: { layers },
  loss: 'sparseCategoricalCrossentropy',
  optimizer: 'adam',
  learningRate: 0.005,
  epochs: 3,
  batchSize: 32,
  seed: 2,
  logEveryBatches: 0,
  ...extra,
});

/** A language model over one side: causal self-attention, a class per step. */
const languageModel = (prefix: 'encoder' | 'decoder', view: 'source' | 'target') =>
  run(view, [
    ...side(prefix, 'input'),
    { type: 'transformerEncoder', name: `${prefix}_block`, ...block, causal: true },
    { type: 'dense', name: `${prefix}_classifier`, units: SYMBOLS + 1, activation: 'softmax' },
  ]);

const seq2seqLayers: LayerSpec[] = [
  { type: 'timeSlice', name: 'source', inputs: ['input'], start: 0, length: L },
  { type: 'timeSlice', name: 'decoder_input', inputs: ['input'], start: L, length: L },
  ...side('encoder', 'source'),
  { type: 'transformerEncoder', name: 'encoder_block', ...block },
  ...side('decoder', 'decoder_input'),
  { type: 'transformerDecoder', name: 'decoder_block', inputs: ['decoder_positions', 'encoder_block'], ...block },
  { type: 'dense', name: 'decoder_classifier', units: SYMBOLS + 1, activation: 'softmax' },
];

const sourceOf = (job: string, checkpoint: CheckpointData, layers?: string[]): SourceCheckpoint => ({
  job,
  checkpoint: CHECKPOINT,
  weights: Object.fromEntries(checkpoint.model.weightSpecs.map((w) => [w.name, w.shape])),
  ...(layers ? { layers } : {}),
});

function plan(input: JobSpecInput, sources: SourceCheckpoint[]): TransferPlan | { problems: { path: (string | number)[]; message: string }[] } {
  const spec = jobSpecSchema.parse(input);
  return planTransfer(spec, describeDataset(spec.dataset)!, sources);
}

describe('the seq2seq data set', () => {
  it.each(['copy', 'reverse', 'sort'] as const)('%s: pairs hold the source then the start token and the target shifted right; the labels are the target', (task) => {
    const pairs = seq2seqTask(50, task, SYMBOLS, L, 'pairs', 7);
    expect(pairs.inputShape).toEqual([2 * L]);
    const target = pairs.target as { labels: Int32Array; classes: number; steps: number };
    expect(target).toMatchObject({ classes: SYMBOLS + 1, steps: L });
    for (let r = 0; r < 50; r++) {
      const row = Array.from(pairs.features.subarray(r * 2 * L, (r + 1) * 2 * L));
      const source = row.slice(0, L);
      const labels = Array.from(target.labels.subarray(r * L, (r + 1) * L));
      expect(source.every((t) => t >= 1 && t <= SYMBOLS)).toBe(true);
      expect(labels).toEqual(seq2seqTarget(task, source));
      expect(row.slice(L)).toEqual([SYMBOLS + 1, ...labels.slice(0, -1)]);
    }
  });

  it('draws the same sources in every view, so language models see the pairs\' sides', () => {
    const pairs = seq2seqTask(20, 'reverse', SYMBOLS, L, 'pairs', 3);
    const source = seq2seqTask(20, 'reverse', SYMBOLS, L, 'source', 3);
    const target = seq2seqTask(20, 'reverse', SYMBOLS, L, 'target', 3);
    for (let r = 0; r < 20; r++) {
      const sequence = Array.from(pairs.features.subarray(r * 2 * L, r * 2 * L + L));
      expect(Array.from((source.target as { labels: Int32Array }).labels.subarray(r * L, (r + 1) * L))).toEqual(sequence);
      expect(Array.from(source.features.subarray(r * L, (r + 1) * L))).toEqual([SYMBOLS + 1, ...sequence.slice(0, -1)]);
      expect(Array.from((target.target as { labels: Int32Array }).labels.subarray(r * L, (r + 1) * L))).toEqual([...sequence].reverse());
    }
  });
});

describe('an encoder–decoder trained with teacher forcing', () => {
  it('learns to reverse sequences', async () => {
    const trained = await collectRun(resolveJobSpec(jobSpecSchema.parse(run('pairs', seq2seqLayers, { dataset: { name: 'seq2seq', task: 'reverse', rows: 1200, symbols: SYMBOLS, length: L }, epochs: 4 }))), backend);
    expect(trained.error).toBeUndefined();
    // Chance is 1 in 6 per step.
    expect(epochMetrics(trained).at(-1)!.val_accuracy).toBeGreaterThan(0.9);
  });

  it('refuses a time slice beyond the input, and a layer other than an embedding or a slice on the token ids', () => {
    const beyond = jobSpecSchema.safeParse(run('pairs', [{ ...seq2seqLayers[0]!, start: 6 } as LayerSpec, ...seq2seqLayers.slice(1)]));
    expect(beyond.success).toBe(false);
    expect(beyond.error!.issues).toContainEqual(expect.objectContaining({ path: ['model', 'layers', 0], message: expect.stringContaining('steps 6 … 10 are beyond the input\'s 10 steps') }));
    const dense = jobSpecSchema.safeParse(run('pairs', [seq2seqLayers[0]!, { type: 'dense', name: 'peek', units: 4 }, ...seq2seqLayers.slice(1)]));
    expect(dense.success).toBe(false);
    expect(dense.error!.issues).toContainEqual(expect.objectContaining({ path: ['model', 'layers', 1], message: expect.stringContaining('only an embedding layer (or a timeSlice before one)') }));
  });
});

describe('pretraining the encoder and the decoder as language models, then starting the seq2seq model from both', () => {
  let encoderLm: CollectedRun;
  let decoderLm: CollectedRun;
  beforeAll(async () => {
    encoderLm = await collectRun(resolveJobSpec(jobSpecSchema.parse(languageModel('encoder', 'source'))), backend);
    decoderLm = await collectRun(resolveJobSpec(jobSpecSchema.parse(languageModel('decoder', 'target'))), backend);
    expect(encoderLm.error).toBeUndefined();
    expect(decoderLm.error).toBeUndefined();
  });

  const twoSources = () => run('pairs', seq2seqLayers, { init: { from: [{ job: ENCODER_JOB }, { job: DECODER_JOB }] } });

  it('loads each side from its own job; the decoder block takes its self-attention and feed-forward weights, its cross-attention starts fresh', async () => {
    const planned = plan(twoSources(), [sourceOf(ENCODER_JOB, encoderLm.checkpoints.at(-1)!), sourceOf(DECODER_JOB, decoderLm.checkpoints.at(-1)!)]);
    if ('problems' in planned) throw new Error(JSON.stringify(planned.problems));
    const decoderSide = ['decoder_tokens', 'decoder_positions', 'decoder_block', 'decoder_classifier'];
    expect(planned.init).toMatchObject({
      from: { job: ENCODER_JOB },
      alsoFrom: [{ job: DECODER_JOB, layers: decoderSide }],
      loaded: ['encoder_tokens', 'encoder_positions', 'encoder_block', ...decoderSide],
    });
    expect(planned.init.fresh).toEqual(expect.arrayContaining(['decoder_block/cross_attention/query/kernel', 'decoder_block/cross_attention_norm/gamma']));
    expect(planned.init.fresh!.every((name) => name.startsWith('decoder_block/cross_attention'))).toBe(true);
    // The encoder's language-model head has no namesake here: it is simply not used.
    expect(planned.init.reason).toContain(`loaded decoder_tokens, decoder_positions, decoder_block, decoder_classifier from job ${DECODER_JOB}`);

    const spec = resolveJobSpec(jobSpecSchema.parse(twoSources()), { transfer: planned });
    const fresh = buildModel(spec, [2 * L], false);
    const before = Object.fromEntries(fresh.model.weights.map((w) => [w.originalName, w.read().dataSync().slice()]));
    loadStartingWeights(spec, fresh.model, { initialWeights: [namedWeights(encoderLm.checkpoints.at(-1)!), namedWeights(decoderLm.checkpoints.at(-1)!)] });
    const encoderWeights = weightsByName(encoderLm.checkpoints.at(-1)!.model);
    const decoderWeights = weightsByName(decoderLm.checkpoints.at(-1)!.model);
    for (const weight of fresh.model.weights) {
      const now = Array.from(weight.read().dataSync());
      const source = weight.originalName.startsWith('encoder_') ? encoderWeights : decoderWeights;
      if (weight.originalName.startsWith('decoder_block/cross_attention')) expect(now).toEqual(Array.from(before[weight.originalName]!));
      else expect(now, weight.originalName).toEqual(source[weight.originalName]);
    }
    fresh.model.dispose();
  });

  it('trains from both sources, and the loaded layers may be frozen but not a layer with fresh weights', async () => {
    const sources = [sourceOf(ENCODER_JOB, encoderLm.checkpoints.at(-1)!), sourceOf(DECODER_JOB, decoderLm.checkpoints.at(-1)!)];
    const frozenEncoder = { ...twoSources(), init: { from: [{ job: ENCODER_JOB }, { job: DECODER_JOB }], freeze: { layers: ['encoder_tokens', 'encoder_block'] } } };
    const planned = plan(frozenEncoder, sources);
    if ('problems' in planned) throw new Error(JSON.stringify(planned.problems));
    const trained = await collectRun(resolveJobSpec(jobSpecSchema.parse(frozenEncoder), { transfer: planned }), backend, { initFrom: [encoderLm.checkpoints.at(-1)!, decoderLm.checkpoints.at(-1)!] });
    expect(trained.error).toBeUndefined();
    const final = weightsByName(trained.checkpoints.at(-1)!.model);
    const encoder = weightsByName(encoderLm.checkpoints.at(-1)!.model);
    expect(final['encoder_block/self_attention/query/kernel']).toEqual(encoder['encoder_block/self_attention/query/kernel']);
    expect(final['encoder_positions/embeddings']).not.toEqual(encoder['encoder_positions/embeddings']);

    const partly = plan({ ...twoSources(), init: { from: [{ job: ENCODER_JOB }, { job: DECODER_JOB }], freeze: { layers: ['decoder_block'] } } }, sources);
    expect(partly).toEqual({ problems: [expect.objectContaining({ path: ['init', 'freeze'], message: expect.stringMatching(/^layer decoder_block would be frozen with decoder_block\/cross_attention\/.* at random: its source lacks them$/) })] });
  });

  it('freezes upTo a graph node with its ancestors only, not a parallel branch listed before it', () => {
    const planned = plan(
      { ...twoSources(), init: { from: [{ job: ENCODER_JOB }, { job: DECODER_JOB }], freeze: { upTo: 'encoder_block' } } },
      [sourceOf(ENCODER_JOB, encoderLm.checkpoints.at(-1)!), sourceOf(DECODER_JOB, decoderLm.checkpoints.at(-1)!)],
    );
    if ('problems' in planned) throw new Error(JSON.stringify(planned.problems));
    // decoder_input (index 1) comes before the encoder in the list but is not what the encoder reads.
    expect(planned.init.frozen).toEqual(['source', 'encoder_tokens', 'encoder_positions', 'encoder_block']);
  });

  it('refuses a layer two sources could give until `layers` says which, and listed layers that are not there', () => {
    const encoder = encoderLm.checkpoints.at(-1)!;
    // The same job twice: every layer is in both.
    const twice = plan(run('pairs', seq2seqLayers, { init: { from: [{ job: ENCODER_JOB }, { job: DECODER_JOB }] } }), [sourceOf(ENCODER_JOB, encoder), sourceOf(DECODER_JOB, encoder)]);
    expect(twice).toMatchObject({ problems: expect.arrayContaining([{ path: ['init', 'from'], message: expect.stringContaining('layer encoder_tokens is in the checkpoints of jobs') }]) });
    const chosen = plan(run('pairs', seq2seqLayers, { init: { from: [{ job: ENCODER_JOB, layers: ['encoder_block'] }, { job: DECODER_JOB }] } }), [
      sourceOf(ENCODER_JOB, encoder, ['encoder_block']),
      sourceOf(DECODER_JOB, decoderLm.checkpoints.at(-1)!),
    ]);
    if ('problems' in chosen) throw new Error(JSON.stringify(chosen.problems));
    expect(chosen.init.loaded).toEqual(['encoder_block', 'decoder_tokens', 'decoder_positions', 'decoder_block', 'decoder_classifier']);
    // Listed in one source, the layer comes from it even though another source (without a list) has it too.
    const listedWins = plan(run('pairs', seq2seqLayers, { init: { from: [{ job: ENCODER_JOB, layers: ['encoder_block'] }, { job: DECODER_JOB }] } }), [
      sourceOf(ENCODER_JOB, encoder, ['encoder_block']),
      sourceOf(DECODER_JOB, encoder),
    ]);
    if ('problems' in listedWins) throw new Error(JSON.stringify(listedWins.problems));
    expect(listedWins.init).toMatchObject({ from: { job: ENCODER_JOB }, alsoFrom: [{ job: DECODER_JOB, layers: ['encoder_tokens', 'encoder_positions'] }] });
    const missing = plan(run('pairs', seq2seqLayers, { init: { from: [{ job: ENCODER_JOB, layers: ['encoder_blok', 'decoder_block'] }] } }), [
      sourceOf(ENCODER_JOB, encoder, ['encoder_blok', 'decoder_block']),
    ]);
    expect(missing).toMatchObject({
      problems: expect.arrayContaining([
        { path: ['init', 'from', 0, 'layers', 0], message: 'this model has no layer encoder_blok to load' },
        { path: ['init', 'from', 0, 'layers', 1], message: expect.stringContaining(`job ${ENCODER_JOB}'s checkpoint has no layer decoder_block`) },
      ]),
    });
  });
});

describe('the time slice layer', () => {
  it('slices the time axis of token ids and of feature sequences, and its gradient reaches only the kept steps', () => {
    const spec = resolveJobSpec(jobSpecSchema.parse(run('pairs', seq2seqLayers)));
    const built = buildModel(spec, [2 * L], false);
    const slice = built.model.getLayer('decoder_input');
    const ids = tf.tensor2d([[1, 2, 3, 4, 5, 7, 5, 4, 3, 2]]);
    expect(Array.from((slice.apply(ids) as tf.Tensor).dataSync())).toEqual([7, 5, 4, 3, 2]);
    const x = tf.randomNormal([2, 10, 3]);
    const grad = tf.grad((v: tf.Tensor) => tf.sum(slice.apply(v) as tf.Tensor))(x);
    const g = grad.arraySync() as number[][][];
    expect(g[0]!.map((step) => step[0])).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    built.model.dispose();
  });
});
