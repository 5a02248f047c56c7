/**
 * A training thread: builds the job's model on its own TF.js backend, then computes gradients of
 * the row sets it is sent at the weights in shared memory (and, for hogwild, applies them there).
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../backend.js';
import { buildModel, buildObjective } from '../model-builder.js';
import { augmentationBase, augmentBatch } from '../augmentation.js';
import { scalingOf } from '../dataset-split.js';
import { computeGradients, readScalars } from '../train-step.js';
import { freezeForSpec } from '../transfer.js';
import { SharedMemoryTransport } from './parameter-transport.js';
import type { ThreadInit, ThreadMessage, ThreadTask } from './thread-protocol.js';

const init = workerData as ThreadInit;
const port = parentPort!;
const send = (message: ThreadMessage, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

try {
  tf.enableProdMode();
  await selectBackend(init.backend);
  const built = buildModel(init.spec, init.inputShape, init.regression);
  freezeForSpec(init.spec, built.model);
  const objective = buildObjective(init.spec, built);
  const weights = built.training.weights.map((weight) => weight.read() as tf.Variable);
  const trainable = built.training.trainableWeights.map((weight) => weight.read() as tf.Variable);
  const transport = new SharedMemoryTransport(init.layout, init.buffers);
  const trainX = tf.tensor(new Float32Array(init.trainX.buffer), init.trainX.shape);
  // The same draws per (step, row) as a run on one thread: a thread augments exactly its own rows.
  const augmentation = init.spec.augmentation
    ? { spec: init.spec.augmentation, base: augmentationBase(init.spec.seed), rows: new Float32Array(init.trainX.buffer), shape: init.inputShape, preprocessing: scalingOf(init.preprocessing) }
    : null;
  const trainY = tf.tensor(init.trainY.dtype === 'int32' ? new Int32Array(init.trainY.buffer) : new Float32Array(init.trainY.buffer), init.trainY.shape, init.trainY.dtype);

  const handle = async (task: Exclude<ThreadTask, { type: 'crash' }>) => {
    const started = performance.now();
    const versions = transport.readInto(weights);
    // Tests: a slow thread, deterministically (it read the weights before it slept, so its gradient goes stale).
    if (task.delayMs) await new Promise((resolve) => setTimeout(resolve, task.delayMs));
    built.clock.step = task.step;
    const indices = tf.tensor1d(task.rows, 'int32');
    const x = augmentation ? tf.tensor(augmentBatch(augmentation, task.step, task.rows), [task.rows.length, ...init.inputShape]) : tf.gather(trainX, indices);
    const y = tf.gather(trainY, indices);
    const step = computeGradients(built.training, trainable, x, y, objective, task.headWeights);
    const flat = new Float32Array(init.layout.gradientTotal);
    const parts = await Promise.all(step.gradients.map((g) => g.data() as Promise<Float32Array>));
    parts.forEach((part, k) => flat.set(part, init.layout.gradientOffsets[k]));
    const [loss, correct, entropy, ...headLosses] = await readScalars(step.loss, step.correct, step.entropy, ...step.headLosses);
    tf.dispose([indices, x, y, step.loss, step.correct, step.entropy, ...step.headLosses, ...step.gradients]);
    if (task.type === 'hogwild') transport.applyInPlace(flat, task.rate);
    const result = { type: 'done' as const, id: task.id, versions, rows: task.rows.length, loss: loss!, correct: correct!, entropy: entropy!, headLosses: headLosses as number[], computeMs: performance.now() - started };
    if (task.type === 'hogwild') send(result);
    else send({ ...result, gradient: flat }, [flat.buffer as ArrayBuffer]);
  };

  // One task at a time, in arrival order: the server may queue a task behind a slow one.
  let queue = Promise.resolve();
  port.on('message', (task: ThreadTask) => {
    if (task.type === 'crash') throw new Error(`training thread ${init.index} crashed (as asked by a test)`);
    queue = queue.then(() => handle(task)).catch((error: unknown) => send({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
  });
  send({ type: 'ready' });
} catch (error) {
  send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
}
