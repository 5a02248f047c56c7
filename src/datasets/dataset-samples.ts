import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { labelCountsOf, readTexts } from './dataset-files.js';
import type { UploadedDataset } from './dataset-service.js';
import { encodePng, type Channels } from './image-decoder.js';
import type { Splits } from './image-dataset.js';

/**
 * What GET /v1/datasets/{id} shows of an upload's contents: a few rows of a table, a grid of a
 * few images per class, and the class counts of uploads stored before splits were recorded. The
 * same rows every time (the first of each class in stored order), read from the trainer's files by
 * offset so a large set is never loaded whole.
 */

/** Images per class in the grid, and classes shown (the first ones in class order). */
export const GRID_PER_CLASS = 8;
export const GRID_MAX_CLASSES = 20;
const SAMPLE_ROWS = 10;
const SAMPLE_COLUMNS = 50;
/** A text row shown is cut to this many UTF-8 bytes. */
const SAMPLE_TEXT_BYTES = 1000;

type Stored = UploadedDataset & { folder: string };

/** Splits as recorded, or for an older upload all rows as train, counted from its labels. */
export async function splitsOf(dataset: Stored): Promise<Splits> {
  if (dataset.splits) return dataset.splits;
  if (dataset.labelType !== 'class') return { train: { rows: dataset.rows, classCounts: {} } };
  return { train: { rows: dataset.rows, classCounts: labelCountsOf(await readLabels(dataset.folder), dataset.classNames) } };
}

/** A table's first rows, one record each (column → value), with at most the first SAMPLE_COLUMNS features, or a text set's texts. */
export async function sampleRows(dataset: Stored): Promise<Record<string, number | string>[]> {
  const rows = dataset.labelType === 'class' ? firstPerClass(await readLabels(dataset.folder), dataset.rows, Math.ceil(SAMPLE_ROWS / Math.max(1, dataset.classNames.length))).flat().sort((a, b) => a - b).slice(0, SAMPLE_ROWS) : range(Math.min(SAMPLE_ROWS, dataset.rows));
  const texts = dataset.textColumn ? await readTexts(dataset.folder, rows, SAMPLE_TEXT_BYTES) : null;
  const features = texts ? [] : await readRows(path.join(dataset.folder, 'features.f32'), dataset.featureSize, rows);
  const targets = dataset.labelType === 'number' ? await readRows(path.join(dataset.folder, 'targets.f32'), 1, rows) : null;
  const labels = dataset.labelType === 'class' ? await readLabels(dataset.folder) : null;
  const shown = dataset.featureNames.slice(0, SAMPLE_COLUMNS);
  return rows.map((row, i) => ({
    ...(texts ? { [dataset.textColumn!]: texts[i]! } : Object.fromEntries(shown.map((name, j) => [name, features[i]![j]!]))),
    [dataset.labelColumn]: labels ? dataset.classNames[labels[row]!]! : targets![i]![0]!,
  }));
}

/** A PNG: a row per class (the first GRID_MAX_CLASSES), its first GRID_PER_CLASS training images side by side. */
export async function sampleGrid(dataset: Stored): Promise<Buffer> {
  const [height, width, channels] = dataset.inputShape as [number, number, Channels];
  const trainRows = dataset.splits?.train.rows ?? dataset.rows;
  const perClass = firstPerClass(await readLabels(dataset.folder), trainRows, GRID_PER_CLASS).slice(0, GRID_MAX_CLASSES);
  const gap = 1;
  const gridWidth = GRID_PER_CLASS * (width + gap) + gap;
  const gridHeight = perClass.length * (height + gap) + gap;
  // Grey lines between the images, so black or white ones still show their edges.
  const pixels = new Uint8Array(gridWidth * gridHeight * channels).fill(128);
  for (const [classIndex, rows] of perClass.entries()) {
    const images = await readRows(path.join(dataset.folder, 'features.f32'), height * width * channels, rows);
    images.forEach((image, column) => {
      const left = gap + column * (width + gap);
      const top = gap + classIndex * (height + gap);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width * channels; x++) {
          pixels[((top + y) * gridWidth + left) * channels + x] = Math.round(image[y * width * channels + x]! * 255);
        }
      }
    });
  }
  // Small images (MNIST's 28 px, an 8 px test set) are scaled up to be seen; large ones are left as they are.
  const scale = Math.max(1, Math.min(8, Math.floor(64 / Math.max(width, height))));
  return encodePng(pixels, gridWidth, gridHeight, channels, scale);
}

async function readLabels(folder: string): Promise<Int32Array> {
  // Copied: a Buffer's offset into its memory need not be a multiple of 4.
  return new Int32Array(new Uint8Array(await readFile(path.join(folder, 'labels.i32'))).buffer);
}

/** The first `count` rows of each class among the first `rows` rows, by class index. */
function firstPerClass(labels: Int32Array, rows: number, count: number): number[][] {
  const found: number[][] = [];
  for (let row = 0; row < Math.min(rows, labels.length); row++) {
    const rowsOfClass = (found[labels[row]!] ??= []);
    if (rowsOfClass.length < count) rowsOfClass.push(row);
  }
  return Array.from(found, (rowsOfClass) => rowsOfClass ?? []);
}

/** float32 rows of `size` values each, read by offset. */
async function readRows(file: string, size: number, rows: number[]): Promise<Float32Array[]> {
  const handle = await open(file, 'r');
  try {
    return await Promise.all(
      rows.map(async (row) => {
        const bytes = Buffer.alloc(size * 4);
        await handle.read(bytes, 0, bytes.length, row * size * 4);
        return new Float32Array(bytes.buffer, bytes.byteOffset, size);
      }),
    );
  } finally {
    await handle.close();
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
