import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { classificationDataset, type Dataset } from '../engine/datasets/dataset.js';
import type { LabelType, ParsedTable } from './tabular-parser.js';

const bytesOf = (array: Float32Array | Int32Array) => new Uint8Array(array.buffer, array.byteOffset, array.byteLength);

/**
 * Features as float32 and labels as int32 class indices (labels.i32) or float32 targets
 * (targets.f32), row-major, little-endian: what the trainer reads.
 */
export async function writeTable(folder: string, table: ParsedTable): Promise<void> {
  await writeFile(path.join(folder, 'features.f32'), bytesOf(table.features));
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
}

export function readTable(folder: string, meta: TableMeta): Dataset {
  const copy = (file: string) => new Uint8Array(readFileSync(path.join(folder, file))).buffer;
  const features = new Float32Array(copy('features.f32'));
  if (meta.labelType === 'class') {
    const dataset = classificationDataset(meta.name, features, meta.featureSize, new Int32Array(copy('labels.i32')), meta.classes);
    return { ...dataset, ...(meta.inputShape ? { inputShape: meta.inputShape } : {}), ...(meta.heldOut ? { heldOut: meta.heldOut } : {}) };
  }
  const values = new Float32Array(copy('targets.f32'));
  return { name: meta.name, features, featureSize: meta.featureSize, rows: values.length, target: { kind: 'values', values, shape: [1] } };
}

/** Rows of each class, by class name. */
export function labelCountsOf(labels: Int32Array, classNames: string[]): Record<string, number> {
  const counts = new Array<number>(classNames.length).fill(0);
  for (const label of labels) counts[label]! += 1;
  return Object.fromEntries(classNames.map((name, i) => [name, counts[i]!]));
}
