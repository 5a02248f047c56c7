import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backendChoiceOf } from '../../src/engine/backend.js';
import { createLogger } from '../../src/logging/logger.js';
import { describeDataset } from '../../src/spec/dataset-spec.js';
import { type JobSpecInput } from '../../src/spec/job-spec.js';
import { estimateMemory } from '../../src/spec/memory-estimate.js';
import { MemoryWatchdog, residentBytes } from '../../src/worker/memory-watchdog.js';
import { TrainerCrashedError, TrainerHost, TrainerMemoryExceededError } from '../../src/worker/trainer-host.js';
import { tinyIrisSpec } from '../support/specs.js';
import { testBackend } from '../support/test-backend.js';
import { resolveSpec } from '../support/training-run.js';
import { waitFor } from '../support/wait.js';

const MIB = 2 ** 20;
const artifactDir = mkdtempSync(path.join(tmpdir(), 'trainyard-memory-cap-'));
afterAll(() => rmSync(artifactDir, { recursive: true, force: true }));

const logger = createLogger('warn', 'test:memory-cap');
const backend = backendChoiceOf({ TRAINYARD_BACKEND: testBackend, WEBGPU_BACKEND: 'vulkan', BLAS_THREADS: 1 });
const handlers = { onEvent() {}, onCheckpoint() {} };

/** A process that fills 16 MiB more of its memory every 20 ms, until it is stopped. */
function growingProcess() {
  return spawn(process.execPath, ['-e', 'const kept = []; setInterval(() => kept.push(Buffer.alloc(16 * 2 ** 20, 1)), 20);'], { stdio: 'ignore' });
}

describe('the memory watchdog', () => {
  it('reports the first reading over the limit, and how far it went', async () => {
    const child = growingProcess();
    const exits = new Promise((resolve) => child.once('exit', resolve));
    let reported: number | null = null;
    const watchdog = new MemoryWatchdog(child.pid!, {
      limitBytes: 200 * MIB,
      onExceeded: (peak) => {
        reported = peak;
        child.kill('SIGKILL');
      },
    }).start();
    try {
      await waitFor('the watchdog to fire', async () => reported !== null, 30_000);
      expect(reported).toBeGreaterThan(200 * MIB);
      // Read every 200 ms, it stops a process that grows 800 MiB/s well before twice the limit.
      expect(reported).toBeLessThan(600 * MIB);
      expect(watchdog.peakBytes).toBe(reported);
    } finally {
      watchdog.stop();
      child.kill('SIGKILL');
    }
    await exits;
    expect(await residentBytes(child.pid!)).toBeNull();
  });

  it('reads this process\'s resident memory', async () => {
    const rss = await residentBytes(process.pid);
    expect(rss).toBeGreaterThan(10 * MIB);
    expect(Math.abs(rss! - process.memoryUsage().rss)).toBeLessThan(64 * MIB);
  });
});

describe('a training process under a memory cap', () => {
  // 1 000 000 rows: 40 MB of features and 400 MB of one-hot targets for 100 classes.
  const big: JobSpecInput = {
    dataset: { name: 'blobs', rows: 1_000_000, features: 10, classes: 100 },
    model: { layers: [{ type: 'dense', units: 100 }] },
    epochs: 1,
    batchSize: 1024,
  };

  it('is killed when it goes over the cap; the job fails saying so, and the estimate had said it would not fit', async () => {
    const spec = resolveSpec(big);
    expect(estimateMemory(spec, describeDataset(spec.dataset)!, { threads: 0 }).bytes).toBeGreaterThan(400 * MIB);
    const host = await TrainerHost.start(backend, logger, undefined, 400);
    const run = host.run({ jobId: 'over-the-cap', spec, artifactDir }, handlers, new AbortController().signal);
    const error = await run.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TrainerMemoryExceededError);
    // A crash to whoever classifies crashes, and the job's own fault: retrying it ends the same way.
    expect(error).toBeInstanceOf(TrainerCrashedError);
    const exceeded = error as TrainerMemoryExceededError;
    const peak = /exceeded the memory limit of 400 MiB \((?:its JavaScript heap reached it; )?peak (\d+) MiB\)/.exec(exceeded.message);
    expect(peak, exceeded.message).not.toBeNull();
    expect(Number(peak![1])).toBeGreaterThan(400);
    expect(exceeded.limitBytes).toBe(400 * MIB);
    expect(exceeded.peakBytes).toBeGreaterThan(400 * MIB);
    expect(host.alive).toBe(false);
  });

  it('trains what fits under the same cap', async () => {
    const host = await TrainerHost.start(backend, logger, undefined, 400);
    try {
      const result = await host.run({ jobId: 'within-the-cap', spec: resolveSpec(tinyIrisSpec()), artifactDir }, handlers, new AbortController().signal);
      expect(Number.isFinite(result.finalMetrics.loss)).toBe(true);
      expect(host.alive).toBe(true);
    } finally {
      await host.stop();
    }
  });
});
