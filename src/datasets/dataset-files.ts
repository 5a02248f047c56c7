import { readFileSync, statSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Dataset } from '../engine/datasets/dataset.js';
import type { LabelType, ParsedTable } from './tabular-parser.js';

const bytesOf = (array: Float32Array | Int32Array) => new Uint8Array(array.buffer, array.byteOffset, array.byteLength);

/**
 * Features as float32 and labels as int32 class indices (labels.i32) or float32 targets
 * (targets.f32), row-major, little-endian: what the trainer reads. A text set's rows instead are
 * texts.utf8, the texts one after another, and texts.offsets, rows + 1 byte offsets into it (float64,
 * exact to 2⁵³), so a few rows can be read without the rest.
 */
export async function writeTable(folder: string, table: ParsedTable): Promise<void> {
  if (table.texts) await writeTexts(folder, table.texts);
  else await writeFile(path.join(folder, 'features.f32'), bytesOf(table.features));
  if (table.labelType === 'class') await writeFile(path.join(folder, 'labels.i32'), bytesOf(table.labels));
  else await writeFile(path.join(folder, 'targets.f32'), bytesOf(table.targets));
}

export interface TableMeta {
  name: string;
  featureSize: number;
  /** How the model sees a row ([height, width, channels] for images); default [featureSize]. */
  inputShape?: number[];
  labelType: LabelType;
  /** 0 for number labels. */
  classes: number;
  /** Rows stored last as the data set's own validation, then test set. */
  heldOut?: { validation: number; test: number };
  /** A text set (texts.utf8 instead of features.f32). */
  text?: boolean;
}

/**
 * The table's rows. Features larger than `inMemoryBytes` stay in features.f32 (`featureFile`) and
 * are read a batch at a time by the trainer; the labels, 4 bytes a row, are always loaded. A text
 * set is always loaded: its token ids are made from the whole texts.
 */
export function readTable(folder: string, meta: TableMeta, inMemoryBytes = Number.POSITIVE_INFINITY): Dataset {
  const copy = (file: string) => new Uint8Array(readFileSync(path.join(folder, file))).buffer;
  const texts = meta.text ? readAllTexts(folder) : undefined;
  const featureFile = path.join(folder, 'features.f32');
  const streamed = !texts && statSync(featureFile).size > inMemoryBytes;
  const features = texts || streamed ? new Float32Array(0) : new Float32Array(copy('features.f32'));
  const target: Dataset['target'] =
    meta.labelType === 'class' ? { kind: 'classes', labels: new Int32Array(copy('labels.i32')), classes: meta.classes } : { kind: 'values', values: new Float32Array(copy('targets.f32')), shape: [1] };
  return {
    name: meta.name,
    features,
    featureSize: texts ? 0 : meta.featureSize,
    rows: target.kind === 'classes' ? target.labels.length : target.values.length,
    target,
    ...(meta.inputShape ? { inputShape: meta.inputShape } : {}),
    ...(meta.heldOut ? { heldOut: meta.heldOut } : {}),
    ...(streamed ? { featureFile } : {}),
    ...(texts ? { texts } : {}),
  };
}

/** Rows of each class, by class name. */
export function labelCountsOf(labels: Int32Array, classNames: string[]): Record<string, number> {
  const counts = new Array<number>(classNames.length).fill(0);
  for (const label of labels) counts[label]! += 1;
  return Object.fromEntries(classNames.map((name, i) => [name, counts[i]!]));
}

async function writeTexts(folder: string, texts: readonly string[]): Promise<void> {
  const offsets = new Float64Array(texts.length + 1);
  const file = await open(path.join(folder, 'texts.utf8'), 'w');
  try {
    let at = 0;
    for (let begin = 0; begin < texts.length; begin += 4096) {
      const chunk = texts.slice(begin, begin + 4096).map((text, i) => {
        const bytes = Buffer.from(text, 'utf8');
        at += bytes.length;
        offsets[begin + i + 1] = at;
        return bytes;
      });
      await file.write(Buffer.concat(chunk));
    }
  } finally {
    await file.close();
  }
  await writeFile(path.join(folder, 'texts.offsets'), new Uint8Array(offsets.buffer));
}

function readAllTexts(folder: string): string[] {
  const offsets = new Float64Array(new Uint8Array(readFileSync(path.join(folder, 'texts.offsets'))).buffer);
  const bytes = readFileSync(path.join(folder, 'texts.utf8'));
  return Array.from({ length: offsets.length - 1 }, (_, i) => bytes.toString('utf8', offsets[i]!, offsets[i + 1]!));
}

/** Some rows' texts, read by offset, each cut to `maxBytes` (ending in "…"): a large set is never loaded for a look at it. */
export async function readTexts(folder: string, rows: readonly number[], maxBytes: number): Promise<string[]> {
  const offsetsFile = await open(path.join(folder, 'texts.offsets'), 'r');
  const textFile = await open(path.join(folder, 'texts.utf8'), 'r');
  try {
    return await Promise.all(
      rows.map(async (row) => {
        const bounds = new Float64Array(2);
        await offsetsFile.read(new Uint8Array(bounds.buffer), 0, 16, row * 8);
        const size = bounds[1]! - bounds[0]!;
        const bytes = Buffer.alloc(Math.min(size, maxBytes));
        await textFile.read(bytes, 0, bytes.length, bounds[0]!);
        // A cut through a multi-byte character decodes to U+FFFD: drop it with the rest.
        return size > maxBytes ? `${bytes.toString('utf8').replace(/\uFFFD+$/u, '')}…` : bytes.toString('utf8');
      }),
    );
  } finally {
    await Promise.all([offsetsFile.close(), textFile.close()]);
  }
}
