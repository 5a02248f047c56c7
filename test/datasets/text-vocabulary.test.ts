import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import { splitDataset, vocabularyOf } from '../../src/engine/dataset-split.js';
import type { Dataset } from '../../src/engine/datasets/dataset.js';
import { fitVocabulary, tokenize, TokenEncoder } from '../../src/engine/text-vocabulary.js';
import { jobSpecSchema, resolveJobSpec } from '../../src/spec/job-spec.js';
import { textOptionsSchema, type TextOptions } from '../../src/spec/text-spec.js';
import { testBackend } from '../support/test-backend.js';
import { collectRun } from '../support/training-run.js';

const options = (overrides: Partial<TextOptions> = {}): TextOptions => textOptionsSchema.parse(overrides);

describe('tokenize', () => {
  it('words: letter and digit runs, apostrophes inside words kept, punctuation dropped, lower-cased', () => {
    expect(tokenize("Don't stop: it's 2026, Café-au-lait!", options())).toEqual(["don't", 'stop', "it's", '2026', 'café', 'au', 'lait']);
    expect(tokenize('MiXeD Case', options({ lowercase: false }))).toEqual(['MiXeD', 'Case']);
  });

  it('whitespace: the pieces between whitespace, punctuation kept', () => {
    expect(tokenize('  Hello,\tworld!\n again ', options({ tokenizer: 'whitespace' }))).toEqual(['hello,', 'world!', 'again']);
  });

  it('characters: code points, spaces included, one token for a character outside the BMP', () => {
    expect(tokenize('Ab 😀', options({ tokenizer: 'characters' }))).toEqual(['a', 'b', ' ', '😀']);
  });
});

describe('fitVocabulary', () => {
  it('keeps the most frequent tokens, ties in code-point order, drops those under minCount', () => {
    const texts = ['b a c', 'a b', 'a d', 'e'];
    const { vocabulary, summary } = fitVocabulary(texts, options({ vocabularySize: 3 }));
    // a ×3, b ×2, then c, d, e once each: c wins the tie.
    expect(vocabulary.tokens).toEqual(['a', 'b', 'c']);
    expect(summary).toMatchObject({ size: 3, distinctTokens: 5, mostFrequent: ['a', 'b', 'c'], truncatedRows: 0 });
    expect(fitVocabulary(texts, options({ minCount: 2 })).vocabulary.tokens).toEqual(['a', 'b']);
  });

  it('counts the rows longer than length as truncated', () => {
    expect(fitVocabulary(['a b c', 'a', 'a b'], options({ length: 2 })).summary.truncatedRows).toBeCloseTo(1 / 3, 12);
  });
});

describe('TokenEncoder', () => {
  const fitted = (overrides: Partial<TextOptions>) => fitVocabulary(['the cat sat', 'the dog'], options(overrides)).vocabulary;

  it('pads and cuts at the end by default: ids 2 … for the vocabulary, 1 for other tokens, 0 for padding', () => {
    const encoder = new TokenEncoder(fitted({ length: 4 }));
    // Vocabulary: the (2), cat (3), dog (4), sat (5).
    expect(Array.from(encoder.encodeAll(['The bird sat', 'the cat sat the dog']))).toEqual([2, 1, 5, 0, 2, 3, 5, 2]);
  });

  it('padding start keeps the last tokens, right-aligned', () => {
    const encoder = new TokenEncoder(fitted({ length: 4, padding: 'start' }));
    expect(Array.from(encoder.encodeAll(['the cat', 'cat sat the dog the']))).toEqual([0, 0, 2, 3, 5, 2, 4, 2]);
  });
});

describe('a text set in splitDataset', () => {
  // Class 1 rows say "good", class 0 rows "bad"; "rare" appears only in the last (held-out) rows.
  const rows = 20;
  const texts = Array.from({ length: rows }, (_, i) => (i >= 16 ? 'rare words only' : i % 2 ? 'good good film' : 'bad film'));
  const dataset: Dataset = { name: 'reviews', features: new Float32Array(0), featureSize: 0, rows, target: { kind: 'classes', labels: Int32Array.from({ length: rows }, (_, i) => i % 2), classes: 2 }, texts };
  const spec = (text: Partial<TextOptions>) =>
    resolveJobSpec(
      jobSpecSchema.parse({
        dataset: { name: 'upload', id: '01900000-0000-7000-8000-000000000000', text },
        model: { layers: [{ type: 'embedding', inputDim: 10, outputDim: 4 }, { type: 'globalAvgPool' }, { type: 'dense', units: 2 }] },
        shuffle: false,
        validationSplit: 0.2,
        testSplit: 0,
        seed: 1,
      }),
    );

  it('fits the vocabulary on the training rows only: a token seen only in validation rows is unknown', () => {
    const split = splitDataset(dataset, spec({ length: 3 }));
    const vocabulary = vocabularyOf(split.preprocessing)!;
    expect(vocabulary.tokens).toEqual(['film', 'good', 'bad']);
    expect(split.inputShape).toEqual([3]);
    expect(split.vocabularySummary).toMatchObject({ size: 3, distinctTokens: 3 });
    expect(split.trainX.arraySync()).toEqual(expect.arrayContaining([[4, 2, 0], [3, 3, 2]]));
    // Validation is the last 4 rows (no shuffle): all three words unknown.
    expect(split.valX!.arraySync()).toEqual(Array.from({ length: 4 }, () => [1, 1, 1]));
  });

  it('gives the same ids for the same spec and seed', () => {
    const shuffled = { ...spec({ length: 3 }), shuffle: true };
    const a = splitDataset(dataset, shuffled);
    const b = splitDataset(dataset, shuffled);
    expect(vocabularyOf(a.preprocessing)).toEqual(vocabularyOf(b.preprocessing));
    expect(a.trainX.arraySync()).toEqual(b.trainX.arraySync());
  });
});

describe('training on a text set', () => {
  let backend: SelectedBackend;
  beforeAll(async () => {
    backend = await selectBackend(testBackend);
  });

  const rows = 64;
  const texts = Array.from({ length: rows }, (_, i) => `${i % 2 ? 'good' : 'bad'} ${['film', 'plot', 'cast'][i % 3]} ${i % 5 ? 'really' : ''}`);
  const dataset: Dataset = { name: 'reviews', features: new Float32Array(0), featureSize: 0, rows, target: { kind: 'classes', labels: Int32Array.from({ length: rows }, (_, i) => i % 2), classes: 2 }, texts };
  const spec = resolveJobSpec(
    jobSpecSchema.parse({
      dataset: { name: 'upload', id: '01900000-0000-7000-8000-000000000000', text: { length: 4, padding: 'start' } },
      model: { layers: [{ type: 'embedding', inputDim: 20, outputDim: 4 }, { type: 'dropout', rate: 0.2 }, { type: 'globalAvgPool' }, { type: 'dense', units: 2 }] },
      epochs: 3,
      batchSize: 8,
      logEveryBatches: 1,
      seed: 5,
    }),
  );

  it('records the vocabulary in every checkpoint, and resumes mid-epoch exactly', async () => {
    const straight = await collectRun(spec, backend, { uploaded: dataset });
    expect(straight.error).toBeUndefined();
    const vocabulary = vocabularyOf(straight.checkpoints.at(-1)!.preprocessing)!;
    expect(vocabulary.text).toMatchObject({ length: 4, padding: 'start' });
    expect([...vocabulary.tokens].sort()).toEqual(['bad', 'cast', 'film', 'good', 'plot', 'really']);
    expect(straight.events).toContainEqual({ type: 'preprocessing', vocabulary: expect.objectContaining({ size: 6 }) });

    const first = await collectRun(spec, backend, { uploaded: dataset, stopAt: (e) => e.type === 'batchMetrics' && e.step === 9 });
    const paused = first.checkpoints.at(-1)!;
    expect(paused.reason).toBe('pause');
    expect(paused.preprocessing).toEqual(vocabulary);
    const second = await collectRun(spec, backend, { uploaded: dataset, resumeFrom: paused });
    expect(second.error).toBeUndefined();
    const batches = (events: typeof straight.events) => events.filter((e) => e.type === 'batchMetrics');
    expect([...batches(first.events), ...batches(second.events)]).toEqual(batches(straight.events));
    expect(Array.from(new Float32Array(second.checkpoints.at(-1)!.model.weightData))).toEqual(Array.from(new Float32Array(straight.checkpoints.at(-1)!.model.weightData)));
  });
});
