import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { classificationDataset, type Dataset } from '../engine/datasets/dataset.js';
import type { ParsedTable } from './tabular-parser.js';

/** Features as float32 and labels as int32, row-major, little-endian: what the trainer reads. */
export async function writeTable(folder: string, table: ParsedTable): Promise<void> {
  await writeFile(path.join(folder, 'features.f32'), new Uint8Array(table.features.buffer, table.features.byteOffset, table.features.byteLength));
  await writeFile(path.join(folder, 'labels.i32'), new Uint8Array(table.labels.buffer, table.labels.byteOffset, table.labels.byteLength));
}

export function readTable(folder: string, meta: { name: string; featureSize: number; classes: number }): Dataset {
  const copy = (file: string) => new Uint8Array(readFileSync(path.join(folder, file))).buffer;
  const features = new Float32Array(copy('features.f32'));
  const labels = new Int32Array(copy('labels.i32'));
  return classificationDataset(meta.name, features, meta.featureSize, labels, meta.classes);
}
