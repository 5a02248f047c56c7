import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BackendPreference } from '../src/config/config.js';

const run = promisify(execFile);
const child = new URL('./streaming-child.ts', import.meta.url).pathname;

export interface StreamingBenchRow {
  rows: number;
  featureMb: number;
  mode: 'streamed' | 'memory';
  samplesPerSecond: number;
  setupSeconds: number;
  peakRssMb: number;
  load: number;
}

const FEATURES = 256;
const CLASSES = 10;
const WRITE_ROWS = 4096;

/**
 * An upload too large to load (issue 24): a synthetic table of `baseRows` × each of `multiples`
 * rows (256 float32 features, 10 classes) written where an upload's rows are, then a small MLP
 * trained on it for `steps` steps with its features streamed and loaded, each run in a fresh
 * process: its peak RSS, samples/s after warm-up, and the seconds to its first step (loading and
 * splitting). Each table is deleted once its runs are done.
 */
export async function benchStreaming(options: { backend: BackendPreference; baseRows: number; multiples: number[]; steps: number; batchSize: number }): Promise<StreamingBenchRow[]> {
  const rows: StreamingBenchRow[] = [];
  for (const multiple of options.multiples) {
    const count = options.baseRows * multiple;
    const folder = mkdtempSync(path.join(os.tmpdir(), 'trainyard-bench-streaming-'));
    try {
      await writeSyntheticTable(folder, count);
      // Streamed first and loaded second at one size, loaded first at the next: the page cache and the load drift favour neither.
      const modes: ('streamed' | 'memory')[] = multiple % 2 === 0 ? ['memory', 'streamed'] : ['streamed', 'memory'];
      for (const mode of modes) {
        const { stdout } = await run(
          process.execPath,
          ['--import', 'tsx', child, options.backend, folder, String(FEATURES), String(CLASSES), mode, String(options.steps), String(options.batchSize)],
          { maxBuffer: 1 << 20, env: { ...process.env, BLAS_THREADS: '1' } },
        );
        const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as Pick<StreamingBenchRow, 'samplesPerSecond' | 'setupSeconds' | 'peakRssMb'>;
        rows.push({ rows: count, featureMb: (count * FEATURES * 4) / 2 ** 20, mode, ...result, load: os.loadavg()[0]! });
      }
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }
  return rows;
}

/** features.f32 and labels.i32 as an upload stores them, a chunk at a time: class c lifts feature c, the rest is noise. */
async function writeSyntheticTable(folder: string, rows: number): Promise<void> {
  const features = await open(path.join(folder, 'features.f32'), 'w');
  const labels = new Int32Array(rows);
  let state = 24;
  const noise = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  try {
    for (let begin = 0; begin < rows; begin += WRITE_ROWS) {
      const count = Math.min(WRITE_ROWS, rows - begin);
      const chunk = new Float32Array(count * FEATURES);
      for (let i = 0; i < count; i++) {
        const label = (begin + i) % CLASSES;
        labels[begin + i] = label;
        for (let f = 0; f < FEATURES; f++) chunk[i * FEATURES + f] = noise() + (f === label ? 1 : 0);
      }
      await features.write(new Uint8Array(chunk.buffer));
    }
  } finally {
    await features.close();
  }
  const labelFile = await open(path.join(folder, 'labels.i32'), 'w');
  try {
    await labelFile.write(new Uint8Array(labels.buffer));
  } finally {
    await labelFile.close();
  }
}
