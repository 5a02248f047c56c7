/**
 * The training child process. Training is CPU-bound for minutes; running it here keeps the
 * BullMQ worker's event loop free to renew its job locks, so a long epoch never looks stalled.
 * It also owns the checkpoint files: they are written between two batches, from here.
 */
import * as tf from '@tensorflow/tfjs';
import { checkpointFolder, readCheckpoint, writeCheckpoint } from '../src/checkpoints/checkpoint-files.js';
import { trainingProcessSettingsSchema } from '../src/config/config.js';
import { readTable } from '../src/datasets/dataset-files.js';
import { backendChoiceOf, selectBackend } from '../src/engine/backend.js';
import type { Dataset } from '../src/engine/datasets/loader.js';
import { TrainingAbortedError } from '../src/engine/events.js';
import { namedWeights } from '../src/engine/checkpoint-data.js';
import { runTraining } from '../src/engine/trainer.js';
import type { HostToTrainer, RunRequest, TrainerToHost } from '../src/worker/trainer-protocol.js';

function send(message: TrainerToHost): void {
  // The worker died (SIGKILL): nobody reads our results, and another worker may be training this
  // job from its checkpoint now. Stop at once rather than write checkpoints beside it. Training
  // is CPU-bound between awaits, so this check at every event comes sooner than 'disconnect'.
  if (!process.connected) process.exit(0);
  process.send?.(message, undefined, undefined, (error) => {
    if (error) process.exit(0);
  });
}

if (!process.send) {
  console.error('workers/trainer-process.ts is started by the training worker, not by hand');
  process.exit(2);
}

// Silences TF.js's console banners ("running in Node.js…"); the worker logs the backend it chose.
tf.enableProdMode();
const settings = trainingProcessSettingsSchema.parse(process.env);
const { preference, options: backendOptions } = backendChoiceOf(settings);
const maxThreads = settings.TRAINING_THREADS;
// Tests of crash recovery only: {"crash": {"thread": 1, "atStep": 10}} fails a training thread of a distributed run.
const faults = process.env.TRAINYARD_TEST_FAULTS ? (JSON.parse(process.env.TRAINYARD_TEST_FAULTS) as { crash?: { thread: number; atStep: number } }) : undefined;
const current = new Map<string, AbortController>();
// Uploads never change once stored: read each once per process.
const uploads = new Map<string, Dataset>();

function uploadedDataset(upload: NonNullable<RunRequest['upload']>): Dataset {
  let dataset = uploads.get(upload.id);
  if (!dataset) {
    const meta = { name: upload.id, featureSize: upload.featureSize, inputShape: upload.inputShape, labelType: upload.labelType, classes: upload.classes, heldOut: upload.heldOut, text: upload.text };
    dataset = readTable(upload.folder, meta, settings.TRAINING_IN_MEMORY_BYTES);
    uploads.set(upload.id, dataset);
  }
  return dataset;
}

async function run(request: RunRequest, backend: Awaited<ReturnType<typeof selectBackend>>, signal: AbortSignal) {
  const { jobId, artifactDir } = request;
  const resumeFrom = request.resume ? readCheckpoint(artifactDir, request.resume.path, request.resume.sha256) : undefined;
  const uploaded = request.upload ? uploadedDataset(request.upload) : undefined;
  const initialWeights = request.initFrom?.map((source) => namedWeights(readCheckpoint(artifactDir, source.path, source.sha256)));
  const columnWeights = request.columnsFrom?.map((column) => namedWeights(readCheckpoint(artifactDir, column.path, column.sha256)));
  return runTraining(
    request.spec,
    {
      emit: (event) => send({ type: 'event', jobId, event, at: Date.now() }),
      checkpoint: (data) => {
        const written = writeCheckpoint(artifactDir, checkpointFolder(jobId, data.state.step, data.reason), data);
        send({
          type: 'checkpoint',
          jobId,
          checkpoint: { ...written, epoch: data.state.completedEpochs, step: data.state.step, reason: data.reason, metrics: data.metrics, isBest: data.isBest },
          at: Date.now(),
        });
      },
    },
    { backend, signal, resumeFrom, uploaded, initialWeights, columnWeights, ...(request.pauseAfterEpoch ? { pauseAfterEpoch: request.pauseAfterEpoch } : {}), ...(maxThreads ? { maxThreads } : {}), ...(faults ? { faults } : {}) },
  );
}

try {
  const backend = await selectBackend(preference, backendOptions);
  process.on('message', (message: HostToTrainer) => {
    if (message.type === 'abort') {
      current.get(message.jobId)?.abort(message.reason);
      return;
    }
    const controller = new AbortController();
    current.set(message.jobId, controller);
    run(message, backend, controller.signal)
      .then((result) => send({ type: 'done', jobId: message.jobId, result }))
      .catch((error: unknown) => {
        const err = error instanceof Error ? error : new Error(String(error));
        const abortReason = error instanceof TrainingAbortedError ? error.reason : undefined;
        send({ type: 'failed', jobId: message.jobId, error: { name: err.name, message: err.message, ...(abortReason ? { abortReason } : {}) } });
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
