import { existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointIntegrityError, checkpointFolder, readCheckpoint, writeCheckpoint } from '../../src/checkpoints/checkpoint-files.js';
import type { CheckpointData } from '../../src/engine/checkpoint-data.js';

const root = mkdtempSync(path.join(tmpdir(), 'trainyard-ckpt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function sample(seed: number): CheckpointData {
  const weights = new Float32Array([seed, 1.5, -2.25, 3]);
  return {
    reason: 'epoch',
    state: {
      version: 1,
      completedEpochs: 2,
      position: { epoch: 3, batch: 0 },
      step: 16,
      phase: 0,
      rateScale: 0.5,
      retries: 1,
      bestLoss: 0.25,
      epochShuffleState: 123456789,
      epochSums: { lossSum: 0, correctSum: 0, entropySum: 0, rows: 0 },
      windowSums: { lossSum: 1.5, correctSum: 3, entropySum: 4, rows: 8 },
      best: { metric: 'val_loss', value: 0.3, epoch: 2 },
      bestMetrics: { val_loss: 0.3 },
      epochsSinceBest: 0,
      optimizer: { step: 16, slots: [{ name: 'm', shapes: [[2, 2]] }] },
    },
    metrics: { loss: 0.4, val_loss: 0.3 },
    isBest: true,
    model: {
      modelTopology: { class_name: 'Sequential' },
      weightSpecs: [{ name: 'dense/kernel', shape: [2, 2], dtype: 'float32' }],
      weightData: weights.buffer,
    },
    optimizerData: new Float32Array([0.1, 0.2, 0.3, seed]),
    bestWeights: new Float32Array([seed, 2, 3, 4]),
    headWeights: new Float32Array([seed, -1]),
    preprocessing: { features: 'standardize', shift: [1, 2], scale: [0.5, 4] },
  };
}

describe('checkpoint files', () => {
  it('round-trip exactly, with a checksum over every file', () => {
    const folder = checkpointFolder('job-a', 16, 'epoch');
    const written = writeCheckpoint(root, folder, sample(7));
    expect(written.path).toBe(path.join('jobs', 'job-a', 'checkpoints', '000000016-epoch'));
    expect(written.sha256).toMatch(/^[0-9a-f]{64}$/);
    const read = readCheckpoint(root, folder, written.sha256);
    const original = sample(7);
    expect(read.state).toEqual(original.state);
    expect(read.metrics).toEqual(original.metrics);
    expect(read.preprocessing).toEqual(original.preprocessing);
    expect(new Float32Array(read.model.weightData)).toEqual(new Float32Array(original.model.weightData));
    expect(read.optimizerData).toEqual(original.optimizerData);
    expect(read.bestWeights).toEqual(original.bestWeights);
    expect(read.headWeights).toEqual(original.headWeights);
    expect(read.model.weightSpecs).toEqual(original.model.weightSpecs);
    // Only the finished folder is there: the temporary one was renamed into place.
    expect(readdirSync(path.join(root, 'jobs', 'job-a', 'checkpoints'))).toEqual(['000000016-epoch']);
  });

  it('reads a checkpoint written before head-weights.bin existed', () => {
    const folder = checkpointFolder('job-old', 8, 'epoch');
    const written = writeCheckpoint(root, folder, { ...sample(2), headWeights: null });
    unlinkSync(path.join(root, folder, 'head-weights.bin'));
    const read = readCheckpoint(root, folder, written.sha256);
    expect(read.headWeights).toBeNull();
    expect(read.bestWeights).toEqual(sample(2).bestWeights);
  });

  it('round-trips divergence recovery\'s rollback points, and reads a checkpoint written before rollback.bin existed', () => {
    const folder = checkpointFolder('job-rollback', 4, 'epoch');
    const rollback = new Float32Array([1, -2, 3.5]);
    const written = writeCheckpoint(root, folder, { ...sample(3), rollback });
    expect(readCheckpoint(root, folder, written.sha256).rollback).toEqual(rollback);
    const older = checkpointFolder('job-rollback', 8, 'epoch');
    // Without rollback points the file is not written at all, as in checkpoints from before it existed.
    const withoutRollback = writeCheckpoint(root, older, sample(3));
    expect(existsSync(path.join(root, older, 'rollback.bin'))).toBe(false);
    expect(readCheckpoint(root, older, withoutRollback.sha256).rollback).toBeNull();
  });

  it('refuses a checkpoint whose files changed after it was recorded', () => {
    const folder = checkpointFolder('job-b', 8, 'pause');
    const written = writeCheckpoint(root, folder, sample(1));
    writeFileSync(path.join(root, folder, 'weights.bin'), Buffer.from(new Float32Array([9, 9, 9, 9]).buffer));
    expect(() => readCheckpoint(root, folder, written.sha256)).toThrow(CheckpointIntegrityError);
  });

  it('a rewrite of the same step replaces the folder whole', () => {
    const folder = checkpointFolder('job-c', 4, 'epoch');
    writeCheckpoint(root, folder, sample(1));
    const second = writeCheckpoint(root, folder, sample(2));
    expect(readCheckpoint(root, folder, second.sha256).optimizerData[3]).toBe(2);
  });
});
