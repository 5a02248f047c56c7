/**
 * The augmentation thread: augments the batches the trainer asks for, one at a time, from the
 * training rows in shared memory, so the main thread only wraps the result in a tensor.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { augmentBatch } from './augmentation.js';
import type { AugmentRequest, AugmentThreadInit } from './augmented-batches.js';

const init = workerData as AugmentThreadInit;
const source = { ...init, rows: new Float32Array(init.rows) };
const port = parentPort!;

port.on('message', ({ id, step, rows }: AugmentRequest) => {
  const x = augmentBatch(source, step, rows);
  port.postMessage({ id, x }, [x.buffer as ArrayBuffer]);
});
port.postMessage({ ready: true });
