import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AugmentedBatches } from '../../src/engine/augmented-batches.js';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import {
  augmentationBase,
  augmentBatch,
  augmentImage,
  drawAugmentation,
  type AugmentationDraws,
  type AugmentationSource,
} from '../../src/engine/augmentation.js';
import { applyPreprocessing, fitPreprocessing, type Split } from '../../src/engine/dataset-split.js';
import { TrainingAbortedError } from '../../src/engine/events.js';
import type { AugmentationSpec } from '../../src/spec/augmentation-spec.js';
import { jobSpecSchema, type JobSpecInput } from '../../src/spec/job-spec.js';
import { testBackend } from '../support/test-backend.js';
import { collectRun, epochMetrics, resolveSpec, type CollectedRun } from '../support/training-run.js';

const still: AugmentationDraws = { cropX: 0, cropY: 0, flip: false, dx: 0, dy: 0, brightness: 1, contrast: 1 };

/** A 3×4×1 image 1 … 12 (row-major), transformed with `draws`, as rows of numbers. */
function transform(spec: AugmentationSpec, draws: Partial<AugmentationDraws>, image = Float32Array.from({ length: 12 }, (_, i) => i + 1), shape = [3, 4, 1]): number[][] {
  const out = new Float32Array(image.length);
  augmentImage(spec, { ...still, ...draws }, shape, image, 0, out, 0);
  const [h, w, c] = shape as [number, number, number];
  return Array.from({ length: h }, (_, y) => Array.from(out.subarray(y * w * c, (y + 1) * w * c)));
}

describe('the transforms, on hand-computed images', () => {
  it('randomCrop pads with zeros and crops back at the drawn offset', () => {
    const crop = { randomCrop: { padding: 1 } };
    // Offset (1, 1) in the padded image is the original.
    expect(transform(crop, { cropX: 1, cropY: 1 })).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10, 11, 12],
    ]);
    // Offset (0, 0): the top row and left column of the padding come in.
    expect(transform(crop, { cropX: 0, cropY: 0 })).toEqual([
      [0, 0, 0, 0],
      [0, 1, 2, 3],
      [0, 5, 6, 7],
    ]);
    // Offset (2, 1): one column to the right, the right padding comes in.
    expect(transform(crop, { cropX: 2, cropY: 1 })).toEqual([
      [2, 3, 4, 0],
      [6, 7, 8, 0],
      [10, 11, 12, 0],
    ]);
  });

  it('horizontalFlip mirrors each row, every channel moving with its pixel', () => {
    expect(transform({ horizontalFlip: { probability: 1 } }, { flip: true })).toEqual([
      [4, 3, 2, 1],
      [8, 7, 6, 5],
      [12, 11, 10, 9],
    ]);
    const rgb = Float32Array.from([1, 2, 3, 4, 5, 6]);
    expect(transform({ horizontalFlip: { probability: 1 } }, { flip: true }, rgb, [1, 2, 3])).toEqual([[4, 5, 6, 1, 2, 3]]);
  });

  it('translate moves the content by (dx, dy) and fills with zeros', () => {
    expect(transform({ translate: { maxPixels: 1 } }, { dx: 1, dy: -1 })).toEqual([
      [0, 5, 6, 7],
      [0, 9, 10, 11],
      [0, 0, 0, 0],
    ]);
  });

  it('composes crop, then flip, then translate', () => {
    // crop (0, 1): [[0,1,2,3],[0,5,6,7],[0,9,10,11]]; flipped: [[3,2,1,0],…]; moved down one row.
    expect(transform({ randomCrop: { padding: 1 }, horizontalFlip: { probability: 1 }, translate: { maxPixels: 1 } }, { cropX: 0, cropY: 1, flip: true, dy: 1 })).toEqual([
      [0, 0, 0, 0],
      [3, 2, 1, 0],
      [7, 6, 5, 0],
    ]);
  });

  it('brightness scales by the factor and clamps to [0, 1] (ColorJitter brightness)', () => {
    const image = Float32Array.from([0, 0.25, 0.5, 0.75]);
    expect(transform({ brightness: { maxDelta: 0.5 } }, { brightness: 1.5 }, image, [1, 4, 1])).toEqual([[0, 0.375, 0.75, 1]]);
    expect(transform({ brightness: { maxDelta: 0.5 } }, { brightness: 0.5 }, image, [1, 4, 1])).toEqual([[0, 0.125, 0.25, 0.375]]);
  });

  it('contrast blends with the mean grey and clamps (ColorJitter contrast)', () => {
    // One channel: m = mean = 0.375; x' = 2x − 0.375, clamped.
    const image = Float32Array.from([0, 0.25, 0.5, 0.75]);
    const [row] = transform({ contrast: { range: [0.5, 2] } }, { contrast: 2 }, image, [1, 4, 1]);
    [0, 0.125, 0.625, 1].forEach((v, i) => expect(row![i]).toBeCloseTo(v, 6));
    // Three channels: m = mean of 0.299 R + 0.587 G + 0.114 B = (0.299 + 0.114) / 2 over the two pixels.
    const rgb = Float32Array.from([1, 0, 0, 0, 0, 1]);
    const m = (0.299 + 0.114) / 2;
    const [pixels] = transform({ contrast: { range: [0.5, 2] } }, { contrast: 0.5 }, rgb, [1, 2, 3]);
    [0.5 + 0.5 * m, 0.5 * m, 0.5 * m, 0.5 * m, 0.5 * m, 0.5 + 0.5 * m].forEach((v, i) => expect(pixels![i]).toBeCloseTo(v, 6));
  });

  it('draws each value in its documented range', () => {
    const spec: AugmentationSpec = { randomCrop: { padding: 2 }, horizontalFlip: { probability: 0.25 }, translate: { maxPixels: 3 }, brightness: { maxDelta: 0.2 }, contrast: { range: [0.7, 1.1] } };
    const draws = Array.from({ length: 4000 }, (_, row) => drawAugmentation(spec, 123, 5, row));
    const values = (pick: (d: AugmentationDraws) => number) => new Set(draws.map(pick));
    expect([...values((d) => d.cropX)].sort()).toEqual([0, 1, 2, 3, 4]);
    expect([...values((d) => d.dy)].sort((a, b) => a - b)).toEqual([-3, -2, -1, 0, 1, 2, 3]);
    expect(draws.filter((d) => d.flip).length / draws.length).toBeCloseTo(0.25, 1);
    expect(Math.min(...draws.map((d) => d.brightness))).toBeGreaterThanOrEqual(0.8);
    expect(Math.max(...draws.map((d) => d.brightness))).toBeLessThanOrEqual(1.2);
    expect(Math.min(...draws.map((d) => d.contrast))).toBeGreaterThanOrEqual(0.7);
    expect(Math.max(...draws.map((d) => d.contrast))).toBeLessThanOrEqual(1.1);
    // A transform left out draws nothing that changes the image.
    expect(drawAugmentation({ horizontalFlip: { probability: 0.5 } }, 123, 5, 0)).toMatchObject({ cropX: 0, cropY: 0, dx: 0, dy: 0, brightness: 1, contrast: 1 });
  });
});

describe('seeded per row and step', () => {
  const rows = 20;
  const shape = [6, 6, 1];
  const pixels = Float32Array.from({ length: rows * 36 }, (_, i) => ((i * 37) % 101) / 100);
  const spec: AugmentationSpec = { randomCrop: { padding: 2 }, horizontalFlip: { probability: 0.5 }, brightness: { maxDelta: 0.3 } };
  const source: AugmentationSource = { spec, base: augmentationBase(11), rows: pixels, shape, preprocessing: null };
  const rowOf = (batch: Float32Array, i: number) => Array.from(batch.subarray(i * 36, (i + 1) * 36));

  it('gives the same batch for the same seed, step and rows', () => {
    expect(augmentBatch(source, 3, [4, 9, 1])).toEqual(augmentBatch(source, 3, [4, 9, 1]));
  });

  it("draws a row's transform from (step, row) alone: not its batch or its place in it", () => {
    const a = augmentBatch(source, 3, [4, 9, 1]);
    const b = augmentBatch(source, 3, [1, 7, 4, 12]);
    expect(rowOf(a, 0)).toEqual(rowOf(b, 2));
    expect(rowOf(a, 2)).toEqual(rowOf(b, 0));
  });

  it('draws again at another step, and with another job seed', () => {
    const differs = (x: Float32Array, y: Float32Array) => x.some((v, i) => v !== y[i]);
    const all = Int32Array.from({ length: rows }, (_, i) => i);
    expect(differs(augmentBatch(source, 3, all), augmentBatch(source, 4, all))).toBe(true);
    expect(differs(augmentBatch(source, 3, all), augmentBatch({ ...source, base: augmentationBase(12) }, 3, all))).toBe(true);
  });

  it('transforms pixels, not scaled values: with preprocessing it equals scaling the augmented pixels', () => {
    const fitted = fitPreprocessing('standardize', pixels, 36)!;
    const scaled = pixels.slice();
    applyPreprocessing(fitted, scaled);
    const expected = augmentBatch(source, 2, [5, 6]);
    applyPreprocessing(fitted, expected);
    const actual = augmentBatch({ ...source, rows: scaled, preprocessing: fitted }, 2, [5, 6]);
    actual.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 4));
  });
});

describe('the augmentation thread', () => {
  it('answers each step with augmentBatch\'s values, uses a matching prefetch and ignores one that does not match', async () => {
    await selectBackend(testBackend);
    const shape = [5, 5, 1];
    const pixels = Float32Array.from({ length: 8 * 25 }, (_, i) => ((i * 13) % 29) / 28);
    const spec: AugmentationSpec = { translate: { maxPixels: 2 }, contrast: { range: [0.5, 1.5] } };
    const trainX = tf.tensor(pixels, [8, ...shape]);
    const batches = await AugmentedBatches.start(spec, 21, { trainX, inputShape: shape, preprocessing: null } as unknown as Split);
    const expected = (step: number, rows: number[]) => Array.from(augmentBatch({ spec, base: augmentationBase(21), rows: pixels, shape, preprocessing: null }, step, rows));
    const take = async (step: number, rows: number[]) => {
      const x = await batches.take(step, Int32Array.from(rows));
      expect(x.shape).toEqual([rows.length, ...shape]);
      const values = Array.from(await x.data());
      x.dispose();
      return values;
    };
    try {
      batches.prefetch(2, Int32Array.from([3, 4]));
      expect(await take(1, [0, 7, 2])).toEqual(expected(1, [0, 7, 2]));
      expect(await take(2, [3, 4])).toEqual(expected(2, [3, 4]));
      // A prefetch of other rows (a rollback redrew the order) is not what the step gets.
      batches.prefetch(3, Int32Array.from([5, 6]));
      expect(await take(3, [6, 5])).toEqual(expected(3, [6, 5]));
    } finally {
      await batches.close();
      trainX.dispose();
    }
  });
});

describe('spec checks', () => {
  const mnistImages = (augmentation: JobSpecInput['augmentation'], extra: Partial<JobSpecInput> = {}): JobSpecInput => ({
    dataset: { name: 'mnist', shape: 'image', limit: 200 },
    model: { layers: [{ type: 'conv2d', filters: 2, kernelSize: 3 }, { type: 'flatten' }, { type: 'dense', units: 10 }] },
    augmentation,
    ...extra,
  });
  const problems = (input: JobSpecInput) => {
    const result = jobSpecSchema.safeParse(input);
    return result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  };

  it('accepts augmentation of mnist images, filling in the flip probability', () => {
    const parsed = jobSpecSchema.parse(mnistImages({ randomCrop: { padding: 2 }, horizontalFlip: {} }));
    expect(parsed.augmentation).toEqual({ randomCrop: { padding: 2 }, horizontalFlip: { probability: 0.5 } });
  });

  it('refuses it on rows that are not images, naming the field', () => {
    const vectors = problems({ dataset: { name: 'mnist', limit: 200 }, model: { layers: [{ type: 'dense', units: 10 }] }, augmentation: { horizontalFlip: {} } });
    expect(vectors).toEqual([{ path: 'augmentation', message: expect.stringContaining('only for image inputs [height, width, channels]; this data set\'s rows are [784]') }]);
    const iris = problems({ dataset: { name: 'iris' }, model: { layers: [{ type: 'dense', units: 3 }] }, augmentation: { brightness: { maxDelta: 0.2 } } });
    expect(iris.map((p) => p.path)).toEqual(['augmentation']);
  });

  it('refuses paddings and shifts as large as the image, an empty augmentation, a reversed range, an lrRangeTest', () => {
    expect(problems(mnistImages({ randomCrop: { padding: 28 } })).map((p) => p.path)).toEqual(['augmentation.randomCrop.padding']);
    expect(problems(mnistImages({ translate: { maxPixels: 30 } })).map((p) => p.path)).toEqual(['augmentation.translate.maxPixels']);
    expect(problems(mnistImages({})).map((p) => p.path)).toEqual(['augmentation']);
    expect(problems(mnistImages({ contrast: { range: [1.2, 0.8] } })).map((p) => p.path)).toEqual(['augmentation.contrast.range']);
    expect(problems(mnistImages({ horizontalFlip: {} }, { task: 'lrRangeTest' })).map((p) => p.path)).toEqual(['augmentation']);
    expect(problems(mnistImages({ horizontalFlip: { probability: 1.5 } } as never)).map((p) => p.path)).toEqual(['augmentation.horizontalFlip.probability']);
  });
});

describe('training with augmentation', () => {
  let backend: SelectedBackend;
  beforeAll(async () => {
    backend = await selectBackend(testBackend);
  });

  const cnn = (extra: Partial<JobSpecInput> = {}): JobSpecInput => ({
    dataset: { name: 'mnist', shape: 'image', limit: 240 },
    model: {
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
        { type: 'maxPool2d', poolSize: 2 },
        { type: 'flatten' },
        { type: 'dropout', rate: 0.2 },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
    },
    optimizer: 'adam',
    learningRate: 0.01,
    epochs: 2,
    batchSize: 24,
    validationSplit: 0.2,
    seed: 3,
    logEveryBatches: 2,
    augmentation: { randomCrop: { padding: 2 }, horizontalFlip: {}, translate: { maxPixels: 2 }, brightness: { maxDelta: 0.3 }, contrast: { range: [0.7, 1.3] } },
    ...extra,
  });
  const finalWeights = (run: CollectedRun) => Array.from(new Float32Array(run.checkpoints.find((c) => c.reason === 'final')!.model.weightData));

  it('resumes exactly from the middle of an epoch', async () => {
    const spec = resolveSpec(cnn());
    const straight = await collectRun(spec, backend);
    expect(straight.error).toBeUndefined();
    // 192 training rows, 8 steps an epoch: step 10 is in the middle of epoch 2.
    const first = await collectRun(spec, backend, { stopAt: (e) => e.type === 'batchMetrics' && e.step === 10 });
    expect(first.error).toBeInstanceOf(TrainingAbortedError);
    const paused = first.checkpoints.at(-1)!;
    expect(paused.state.position).toEqual({ epoch: 2, batch: 2 });
    const second = await collectRun(spec, backend, { resumeFrom: paused });
    expect(second.error).toBeUndefined();
    expect(finalWeights(second)).toEqual(finalWeights(straight));
    const batches = (r: CollectedRun) => r.events.filter((e) => e.type === 'batchMetrics');
    expect([...batches(first), ...batches(second)]).toEqual(batches(straight));
  });

  it('changes the training batches only: validation is scored on the plain rows', async () => {
    // A rate so small the weights hardly move: the epoch's val_loss is the starting model's either way.
    const tiny = { optimizer: 'sgd' as const, learningRate: 1e-9, epochs: 1, model: { layers: [{ type: 'flatten' as const }, { type: 'dense' as const, units: 10, activation: 'softmax' as const }] } };
    const plain = await collectRun(resolveSpec(cnn({ ...tiny, augmentation: undefined })), backend);
    const augmented = await collectRun(resolveSpec(cnn({ ...tiny, augmentation: { brightness: { maxDelta: 0.9 }, randomCrop: { padding: 4 } } })), backend);
    const [a] = epochMetrics(augmented);
    const [p] = epochMetrics(plain);
    expect(a!.val_loss).toBeCloseTo(p!.val_loss!, 6);
    expect(Math.abs(a!.loss! - p!.loss!)).toBeGreaterThan(1e-3);
  });

  it('a transform that never fires leaves the run exactly as without augmentation', async () => {
    const plain = await collectRun(resolveSpec(cnn({ augmentation: undefined, epochs: 1 })), backend);
    const never = await collectRun(resolveSpec(cnn({ augmentation: { horizontalFlip: { probability: 0 } }, epochs: 1 })), backend);
    expect(finalWeights(never)).toEqual(finalWeights(plain));
  });
});

// The data-parallel threads run on wasm (as in distributed.test.ts): once, not again in the native project.
describe.skipIf(testBackend === 'native')('data-parallel training with augmentation', () => {
  let wasm: SelectedBackend;
  beforeAll(async () => {
    wasm = await selectBackend('wasm');
  });

  const spec = (extra: Partial<JobSpecInput>): JobSpecInput => ({
    dataset: { name: 'mnist', shape: 'image', limit: 240 },
    model: { layers: [{ type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' }, { type: 'maxPool2d', poolSize: 2 }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }] },
    optimizer: 'adam',
    learningRate: 0.01,
    epochs: 2,
    validationSplit: 0.2,
    seed: 3,
    logEveryBatches: 2,
    augmentation: { randomCrop: { padding: 2 }, horizontalFlip: {}, brightness: { maxDelta: 0.3 } },
    ...extra,
  });
  const weights = (run: CollectedRun) => Array.from(new Float32Array(run.checkpoints.find((c) => c.reason === 'final')!.model.weightData));

  it('sync threads augment their own rows with the same draws: 2 threads × 12 rows equal one worker with 24', async () => {
    const distributed = await collectRun(resolveSpec(spec({ batchSize: 12, distributed: { strategy: 'sync', workers: 2 } })), wasm);
    expect(distributed.error).toBeUndefined();
    const single = await collectRun(resolveSpec(spec({ batchSize: 24 })), wasm);
    const unaugmented = await collectRun(resolveSpec(spec({ batchSize: 24, augmentation: undefined })), wasm);
    const [a, b, c] = [weights(distributed), weights(single), weights(unaugmented)];
    a.forEach((w, i) => expect(w).toBeCloseTo(b[i]!, 4));
    expect(Math.max(...b.map((w, i) => Math.abs(w - c[i]!)))).toBeGreaterThan(1e-3);
  });

  it('a sync run resumes exactly from the middle of an epoch', async () => {
    const sync = resolveSpec(spec({ batchSize: 12, distributed: { strategy: 'sync', workers: 2 } }));
    const straight = await collectRun(sync, wasm);
    const first = await collectRun(sync, wasm, { stopAt: (e) => e.type === 'batchMetrics' && e.step === 10 });
    expect(first.checkpoints.at(-1)!.state.position).toEqual({ epoch: 2, batch: 2 });
    const second = await collectRun(sync, wasm, { resumeFrom: first.checkpoints.at(-1)! });
    expect(second.error).toBeUndefined();
    expect(weights(second)).toEqual(weights(straight));
  });
});
