import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { CheckpointData } from '../engine/checkpoint-data.js';

/**
 * A checkpoint on disk is a folder: `model.json` + `weights.bin` (TF.js layers format, what
 * `tf.loadLayersModel` reads), `state.json` (run state, metrics), `optimizer.bin`, the best epoch's
 * weights, the auxiliary heads' weights and divergence recovery's rollback points (all three may
 * be empty). It is
 * written to a temporary folder, flushed, then renamed into place, so a crash leaves either the
 * whole checkpoint or none of it.
 */
export const checkpointFiles = ['model.json', 'weights.bin', 'state.json', 'optimizer.bin', 'best-weights.bin', 'head-weights.bin', 'rollback.bin'] as const;
export type CheckpointFile = (typeof checkpointFiles)[number];

export interface WrittenCheckpoint {
  /** Relative to the artifact root. */
  path: string;
  sizeBytes: number;
  sha256: string;
}

export class CheckpointIntegrityError extends Error {
  override name = 'CheckpointIntegrityError';
}

export function checkpointFolder(jobId: string, step: number, reason: string): string {
  return path.join('jobs', jobId, 'checkpoints', `${String(step).padStart(9, '0')}-${reason}`);
}

function contents(data: CheckpointData): Record<CheckpointFile, Uint8Array> {
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'Trainyard',
    convertedBy: null,
    modelTopology: data.model.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: data.model.weightSpecs }],
  };
  const state = { reason: data.reason, state: data.state, metrics: data.metrics, isBest: data.isBest, preprocessing: data.preprocessing };
  return {
    'model.json': Buffer.from(JSON.stringify(modelJson)),
    'weights.bin': new Uint8Array(data.model.weightData),
    'state.json': Buffer.from(JSON.stringify(state)),
    'optimizer.bin': new Uint8Array(data.optimizerData.buffer, data.optimizerData.byteOffset, data.optimizerData.byteLength),
    // Empty when there is no best epoch to keep.
    'best-weights.bin': data.bestWeights ? new Uint8Array(data.bestWeights.buffer, data.bestWeights.byteOffset, data.bestWeights.byteLength) : new Uint8Array(0),
    'head-weights.bin': data.headWeights ? new Uint8Array(data.headWeights.buffer, data.headWeights.byteOffset, data.headWeights.byteLength) : new Uint8Array(0),
    'rollback.bin': data.rollback ? new Uint8Array(data.rollback.buffer, data.rollback.byteOffset, data.rollback.byteLength) : new Uint8Array(0),
  };
}

function digest(files: Record<CheckpointFile, Uint8Array>): string {
  const hash = createHash('sha256');
  for (const name of checkpointFiles) hash.update(files[name]);
  return hash.digest('hex');
}

function writeDurably(file: string, bytes: Uint8Array): void {
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Synchronous on purpose: it runs between two batches in the training process. */
export function writeCheckpoint(root: string, relative: string, data: CheckpointData): WrittenCheckpoint {
  const files = contents(data);
  const target = path.join(root, relative);
  const temporary = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${randomBytes(4).toString('hex')}`);
  mkdirSync(temporary, { recursive: true });
  try {
    // rollback.bin only exists for runs with divergence recovery: one fsync less per checkpoint for the others.
    for (const name of checkpointFiles) if (name !== 'rollback.bin' || files[name].byteLength > 0) writeDurably(path.join(temporary, name), files[name]);
    // A run resumed after a crash can write the same step again: the newer copy wins.
    rmSync(target, { recursive: true, force: true });
    renameSync(temporary, target);
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
  const sizeBytes = checkpointFiles.reduce((sum, name) => sum + files[name].byteLength, 0);
  return { path: relative, sizeBytes, sha256: digest(files) };
}

export function readCheckpoint(root: string, relative: string, expectedSha256?: string): CheckpointData {
  const folder = path.join(root, relative);
  // Checkpoints written before head-weights.bin and rollback.bin existed lack them; empty is what they would hold for them.
  const optional = new Set<CheckpointFile>(['head-weights.bin', 'rollback.bin']);
  const read = (name: CheckpointFile) => (optional.has(name) && !existsSync(path.join(folder, name)) ? Buffer.alloc(0) : readFileSync(path.join(folder, name)));
  const files = Object.fromEntries(checkpointFiles.map((name) => [name, read(name)])) as Record<CheckpointFile, Buffer>;
  if (expectedSha256 && digest(files) !== expectedSha256) {
    throw new CheckpointIntegrityError(`checkpoint ${relative} does not match its recorded checksum: it was changed or damaged`);
  }
  const model = JSON.parse(files['model.json'].toString('utf8')) as {
    modelTopology: object;
    weightsManifest: { weights: CheckpointData['model']['weightSpecs'] }[];
  };
  const state = JSON.parse(files['state.json'].toString('utf8')) as Pick<CheckpointData, 'reason' | 'state' | 'metrics' | 'isBest' | 'preprocessing'>;
  const weights = files['weights.bin'];
  const optimizer = files['optimizer.bin'];
  return {
    ...state,
    model: {
      modelTopology: model.modelTopology,
      weightSpecs: model.weightsManifest.flatMap((group) => group.weights),
      weightData: new Uint8Array(weights).buffer,
    },
    // Copied so the floats are aligned whatever the Buffer's offset.
    optimizerData: new Float32Array(new Uint8Array(optimizer).buffer),
    bestWeights: files['best-weights.bin'].byteLength > 0 ? new Float32Array(new Uint8Array(files['best-weights.bin']).buffer) : null,
    headWeights: files['head-weights.bin'].byteLength > 0 ? new Float32Array(new Uint8Array(files['head-weights.bin']).buffer) : null,
    rollback: files['rollback.bin'].byteLength > 0 ? new Float32Array(new Uint8Array(files['rollback.bin']).buffer) : null,
  };
}

/** The names and shapes of a checkpoint's model weights, from its model.json alone. */
export function readCheckpointWeightShapes(root: string, relative: string): Record<string, number[]> {
  const model = JSON.parse(readFileSync(path.join(root, relative, 'model.json'), 'utf8')) as { weightsManifest: { weights: { name: string; shape: number[] }[] }[] };
  return Object.fromEntries(model.weightsManifest.flatMap((group) => group.weights).map((weight) => [weight.name, weight.shape]));
}

export function removeCheckpoint(root: string, relative: string): void {
  rmSync(path.join(root, relative), { recursive: true, force: true });
}
