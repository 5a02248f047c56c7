import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { AugmentationSpec } from '../spec/augmentation-spec.js';
import { augmentationBase } from './augmentation.js';
import { inMemoryRows, scalingOf, type FittedScaling, type Split } from './dataset-split.js';

export interface AugmentThreadInit {
  spec: AugmentationSpec;
  base: number;
  /** The training rows as the split stores them, shared read-only. */
  rows: SharedArrayBuffer;
  shape: number[];
  preprocessing: FittedScaling | null;
}

export interface AugmentRequest {
  id: number;
  step: number;
  rows: Int32Array;
}

const entry = new URL('./augment-thread-entry.mjs', import.meta.url);

interface Pending {
  step: number;
  rows: Int32Array;
  result: Promise<Float32Array>;
}

/**
 * Augmented training batches, computed on a thread of their own: the trainer asks for step k + 1's
 * batch before it computes step k, so augmentation overlaps the step instead of preceding it.
 * A batch is a pure function of (step, rows): a prefetch the run did not use (a rollback, an abort)
 * is simply dropped, and asking again gives the same values.
 */
export class AugmentedBatches {
  private readonly waiting = new Map<number, { resolve: (x: Float32Array) => void; reject: (error: Error) => void }>();
  private readonly pending: Pending[] = [];
  private nextId = 1;
  private failure: Error | null = null;
  private closing = false;

  private constructor(
    private readonly worker: Worker,
    private readonly shape: number[],
  ) {
    worker.on('message', (message: { id: number; x: Float32Array }) => {
      this.waiting.get(message.id)?.resolve(message.x);
      this.waiting.delete(message.id);
    });
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => this.fail(new Error(`the augmentation thread exited with code ${code}`)));
  }

  static async start(spec: AugmentationSpec, jobSeed: number, split: Split): Promise<AugmentedBatches> {
    const values = (await inMemoryRows(split, 'trainX', 'augmentation').data()) as Float32Array;
    const rows = new SharedArrayBuffer(values.length * 4);
    new Float32Array(rows).set(values);
    const init: AugmentThreadInit = { spec, base: augmentationBase(jobSeed), rows, shape: split.inputShape, preprocessing: scalingOf(split.preprocessing) };
    const worker = new Worker(entry, { workerData: init });
    await new Promise<void>((ready, failed) => {
      const onError = (error: Error) => failed(error);
      const onExit = (code: number) => failed(new Error(`the augmentation thread exited with code ${code} before it started`));
      worker.once('error', onError);
      worker.once('exit', onExit);
      worker.once('message', () => {
        // Only these two: removeAllListeners would also drop the ones Node's Worker keeps for itself.
        worker.off('error', onError);
        worker.off('exit', onExit);
        ready();
      });
    });
    return new AugmentedBatches(worker, split.inputShape);
  }

  /** Starts on step `step`'s batch now, if it is not already under way. */
  prefetch(step: number, rows: Int32Array): void {
    if (!this.find(step, rows)) this.request(step, rows);
  }

  /** Step `step`'s batch as a tensor [rows, ...inputShape]; earlier prefetches are forgotten. */
  async take(step: number, rows: Int32Array): Promise<tf.Tensor> {
    const ready = this.find(step, rows) ?? this.request(step, rows);
    this.pending.splice(0, this.pending.indexOf(ready) + 1);
    const x = await ready.result;
    return tf.tensor(x, [rows.length, ...this.shape]);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }

  private fail(error: Error): void {
    if (this.closing) return;
    this.failure = error;
    for (const { reject } of this.waiting.values()) reject(error);
    this.waiting.clear();
  }

  private find(step: number, rows: Int32Array): Pending | undefined {
    return this.pending.find((p) => p.step === step && p.rows.length === rows.length && p.rows.every((row, i) => row === rows[i]));
  }

  private request(step: number, rows: Int32Array): Pending {
    const id = this.nextId++;
    const copy = rows.slice();
    const result = this.failure
      ? Promise.reject(this.failure)
      : new Promise<Float32Array>((resolve, reject) => {
          this.waiting.set(id, { resolve, reject });
          this.worker.postMessage({ id, step, rows: copy } satisfies AugmentRequest);
        });
    // A prefetch nobody takes may fail with the thread: that is no unhandled rejection.
    result.catch(() => undefined);
    const pending = { step, rows: copy, result };
    this.pending.push(pending);
    return pending;
  }
}
