import sharp from 'sharp';
import { TrainyardClient, type JobSpecInput, type Schemas } from '../src/client/index.js';
import { loadBuiltInDataset } from '../src/engine/datasets/loader.js';
import { createRng, permutation } from '../src/engine/random.js';
import { createTrainingWorker } from '../src/worker/training-worker.js';
import { zip, type ZipEntry } from '../test/support/zip-writer.js';
import { startBenchApi } from './bench-api.js';
import { cnn } from './transfer-speedup.js';

/**
 * Issue 24's transfer demo as a user would run it: MNIST digits written as PNG class folders,
 * zipped and uploaded, a CNN pretrained on digits 0–4, then digits 5–9 from its convolutions
 * (frozen, or fine-tuned) against the same CNN from scratch, all through the API and the worker.
 */

export const transferStarts = ['frozen convolutions', 'finetune', 'scratch'] as const;
export type TransferStart = (typeof transferStarts)[number];

export interface TransferImagesRow {
  size: number;
  start: TransferStart;
  seed: number;
  /** Accuracy on the fixed val/ folder after each epoch. */
  accuracies: number[];
  /** From the job's start to each epoch's metrics being recorded. */
  secondsByEpoch: number[];
  /** The job's startedAt to its finishedAt: every epoch with its validation, and the checkpoints. */
  wallSeconds: number;
}

export interface TransferImagesResult {
  pretrainAccuracies: number[];
  pretrainRows: number;
  validationRows: number;
  rows: TransferImagesRow[];
}

const SOURCE_DIGITS = [0, 1, 2, 3, 4];
const TARGET_DIGITS = [5, 6, 7, 8, 9];
const SIDE = 28;
/** Held out of every target training set: the one yardstick for every run. */
const TARGET_VALIDATION = 1000;
const SOURCE_VALIDATION = 500;
const PRETRAIN_EPOCHS = 3;
/** Adam's rate for pretraining, frozen convolutions and scratch. */
export const LEARNING_RATE = 0.01;

/** Any fixed seed: every run, and every run of the bench, holds out the same val/ digits. */
const SPLIT_SEED = 24;

function mnistLabels(): Int32Array {
  const target = loadBuiltInDataset('mnist').target;
  if (target.kind !== 'classes') throw new Error('mnist has class labels');
  return target.labels;
}

/** MNIST rows of the digits in a fixed shuffled order: the first ones become val/, the rest the training pool. */
function shuffledRows(digits: number[]): number[] {
  const rows = [...mnistLabels().entries()].filter(([, label]) => digits.includes(label)).map(([row]) => row);
  return Array.from(permutation(rows.length, createRng(SPLIT_SEED)), (i) => rows[i]!);
}

/** One MNIST row as a grey PNG; the upload reads it back as bytes / 255, within half a grey level of the original. */
function digitPng(row: number): Promise<Buffer> {
  const mnist = loadBuiltInDataset('mnist');
  const pixels = Buffer.from(mnist.features.subarray(row * SIDE * SIDE, (row + 1) * SIDE * SIDE).map((value) => Math.round(value * 255)));
  return sharp(pixels, { raw: { width: SIDE, height: SIDE, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}

/** A zip of `train/<digit>/<row>.png` and `val/<digit>/<row>.png`, as a user's archiver would make it. */
export async function digitArchive(split: { train: number[]; val: number[] }): Promise<Buffer> {
  const labels = mnistLabels();
  const files = (['train', 'val'] as const).flatMap((folder) => split[folder].map((row) => ({ name: `${folder}/${labels[row]}/${row}.png`, row })));
  const entries: ZipEntry[] = [];
  // sharp encodes on libuv's pool: a few at a time keeps it busy without queueing thousands of buffers.
  for (let i = 0; i < files.length; i += 64) {
    const chunk = files.slice(i, i + 64);
    // PNGs are already deflated: stored, as archivers do by default for them.
    entries.push(...(await Promise.all(chunk.map(async (file) => ({ name: file.name, data: await digitPng(file.row), method: 'store' as const })))));
  }
  return zip(entries);
}

/** The CNN on an uploaded set: every run alike but for its head's name, epochs, seed and init. */
function cnnJob(name: string, dataset: string, head: string, epochs: number, seed: number): JobSpecInput {
  return { name, dataset: { name: 'upload', id: dataset }, model: { layers: cnn(head) }, optimizer: 'adam', learningRate: LEARNING_RATE, epochs, batchSize: 32, seed, logEveryBatches: 0 };
}

function targetSpec(dataset: string, start: TransferStart, source: string, seed: number, epochs: number, finetuneLearningRate: number): JobSpecInput {
  // A new head: 'head' would load the source's, trained for other digits.
  const base = cnnJob(`bench: ${start}, seed ${seed}`, dataset, 'head59', epochs, seed);
  switch (start) {
    case 'frozen convolutions':
      return { ...base, init: { from: { job: source }, freeze: { upTo: 'pool2' } } };
    case 'finetune':
      return { ...base, learningRate: finetuneLearningRate, init: { from: { job: source } } };
    case 'scratch':
      return base;
  }
}

/**
 * Builds and uploads the archives, pretrains once (seed 1), then for each seed and target size runs
 * the three starts one after the other, interleaved so that the machine's load falls on each alike.
 */
export async function benchTransferImages(options: {
  sizes: number[];
  seeds: number[];
  epochs: number;
  /** Adam's rate when every pretrained layer trains; the others train at LEARNING_RATE. */
  finetuneLearningRate: number;
  backend: string;
  onRow?: (row: TransferImagesRow) => void;
  onStep?: (line: string) => void;
}): Promise<TransferImagesResult> {
  const target = shuffledRows(TARGET_DIGITS);
  const pool = target.slice(TARGET_VALIDATION);
  const largest = Math.max(...options.sizes);
  if (largest > pool.length) throw new Error(`--sizes: at most ${pool.length} digits 5–9 are left beside the ${TARGET_VALIDATION} held out for validation`);
  const source = shuffledRows(SOURCE_DIGITS);
  const val = target.slice(0, TARGET_VALIDATION);

  const bench = await startBenchApi('transfer_images', { TRAINYARD_BACKEND: options.backend });
  const worker = createTrainingWorker(bench.services);
  await worker.start();
  const client = new TrainyardClient(bench.address, { apiKey: bench.key });
  const upload = async (name: string, split: { train: number[]; val: number[] }): Promise<string> => {
    const started = performance.now();
    const archive = await digitArchive(split);
    const built = performance.now();
    // openapi-fetch has no way to send a binary body; the answer is still the contract's type.
    const response = await fetch(`${bench.address}/v1/datasets?name=${encodeURIComponent(name)}`, { method: 'POST', headers: { ...bench.headers, 'content-type': 'application/zip' }, body: new Uint8Array(archive) });
    if (response.status !== 201) throw new Error(`POST /v1/datasets answered ${response.status}: ${await response.text()}`);
    const uploaded = (await response.json()) as Schemas['UploadedDataset'];
    options.onStep?.(`  ${name}: ${split.train.length} + ${split.val.length} PNGs, ${(archive.length / 1e6).toFixed(1)} MB zip built in ${((built - started) / 1000).toFixed(1)} s, uploaded and decoded in ${((performance.now() - built) / 1000).toFixed(1)} s`);
    return uploaded.id;
  };
  const run = async (spec: JobSpecInput) => {
    const { id } = await client.submit(spec);
    await client.follow(id, () => undefined);
    const job = await client.job(id);
    if (job.status !== 'succeeded') throw new Error(`${spec.name}: ${job.status}: ${job.failureReason ?? ''}`);
    const startedAt = Date.parse(job.startedAt!);
    const epochs = await client.metrics(id, 'epoch');
    return {
      id,
      accuracies: epochs.map((metric) => metric.values.val_accuracy!),
      secondsByEpoch: epochs.map((metric) => (Date.parse(metric.createdAt) - startedAt) / 1000),
      wallSeconds: (Date.parse(job.finishedAt!) - startedAt) / 1000,
    };
  };

  try {
    const sourceSet = await upload('digits 0-4', { train: source.slice(SOURCE_VALIDATION), val: source.slice(0, SOURCE_VALIDATION) });
    const targetSets = new Map<number, string>();
    // Nested: the smaller set is the start of the larger, so the sizes differ only in how much more there is.
    for (const size of options.sizes) targetSets.set(size, await upload(`digits 5-9, ${size}`, { train: pool.slice(0, size), val }));

    const pretrained = await run(cnnJob('bench: pretrain on digits 0-4', sourceSet, 'head', PRETRAIN_EPOCHS, 1));
    options.onStep?.(`  pretrained on digits 0-4: val accuracy by epoch ${pretrained.accuracies.map((a) => (a * 100).toFixed(1)).join(' ')} %, ${pretrained.wallSeconds.toFixed(0)} s`);

    const rows: TransferImagesRow[] = [];
    for (const seed of options.seeds) {
      for (const size of options.sizes) {
        for (const start of transferStarts) {
          const { accuracies, secondsByEpoch, wallSeconds } = await run(targetSpec(targetSets.get(size)!, start, pretrained.id, seed, options.epochs, options.finetuneLearningRate));
          const row = { size, start, seed, accuracies, secondsByEpoch, wallSeconds };
          rows.push(row);
          options.onRow?.(row);
        }
      }
    }
    return { pretrainAccuracies: pretrained.accuracies, pretrainRows: source.length - SOURCE_VALIDATION, validationRows: TARGET_VALIDATION, rows };
  } finally {
    await worker.close();
    await bench.close();
  }
}
