/**
 * The training child process. Training is CPU-bound for minutes; running it here keeps the
 * BullMQ worker's event loop free to renew its job locks, so a long epoch never looks stalled.
 */
import * as tf from '@tensorflow/tfjs';
import { backendPreferenceSchema } from '../src/config/config.js';
import { selectBackend } from '../src/engine/backend.js';
import { runTraining } from '../src/engine/trainer.js';
import type { HostToTrainer, TrainerToHost } from '../src/worker/trainer-protocol.js';

function send(message: TrainerToHost): void {
  process.send?.(message);
}

if (!process.send) {
  console.error('workers/trainer-process.ts is started by the training worker, not by hand');
  process.exit(2);
}

// Silences TF.js's console banners ("running in Node.js…"); the worker logs the backend it chose.
tf.enableProdMode();
const preference = backendPreferenceSchema.parse(process.env.TRAINYARD_BACKEND ?? 'auto');
const current = new Map<string, AbortController>();

try {
  const backend = await selectBackend(preference);
  process.on('message', (message: HostToTrainer) => {
    if (message.type === 'abort') {
      current.get(message.jobId)?.abort(message.reason);
      return;
    }
    const controller = new AbortController();
    current.set(message.jobId, controller);
    runTraining(message.spec, { emit: (event) => send({ type: 'event', jobId: message.jobId, event }) }, { backend, signal: controller.signal })
      .then((result) => send({ type: 'done', jobId: message.jobId, result }))
      .catch((error: unknown) => {
        const err = error instanceof Error ? error : new Error(String(error));
        send({ type: 'failed', jobId: message.jobId, error: { name: err.name, message: err.message } });
      })
      .finally(() => current.delete(message.jobId));
  });
  // The parent went away: nobody will read our results.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', backend });
} catch (error) {
  send({ type: 'startupFailed', message: (error as Error).message });
  process.exit(1);
}
