// One run of `npm run bench -- --only streaming` (bench/streaming.ts), in a process of its own so
// its peak RSS is its own:
//   node --import tsx bench/streaming-child.ts <backend> <folder> <featureSize> <classes> <streamed|memory> <steps> <batch>
// trains a small MLP on the table in <folder> for <steps> steps, its features streamed from disk
// (TRAINING_IN_MEMORY_BYTES 0) or loaded, and prints {"samplesPerSecond", "setupSeconds", "peakRssMb"} as JSON.
import * as tf from '@tensorflow/tfjs';
import { backendPreferenceSchema } from '../src/config/config.js';
import { readTable } from '../src/datasets/dataset-files.js';
import { selectBackend } from '../src/engine/backend.js';
import { TrainingAbortedError } from '../src/engine/events.js';
import { runTraining } from '../src/engine/trainer.js';
import { jobSpecSchema, resolveJobSpec } from '../src/spec/job-spec.js';

tf.enableProdMode();
const [backendName, folder, featureSize, classes, mode, stepsArg, batchArg] = process.argv.slice(2);
const steps = Number(stepsArg);
const batchSize = Number(batchArg);
// The first steps warm the kernels up; the rate is taken over the rest.
const WARM_STEPS = 10;
const backend = await selectBackend(backendPreferenceSchema.parse(backendName));
const start = performance.now();
const dataset = readTable(folder!, { name: 'bench', featureSize: Number(featureSize), labelType: 'class', classes: Number(classes) }, mode === 'streamed' ? 0 : Number.POSITIVE_INFINITY);
const spec = resolveJobSpec(
  jobSpecSchema.parse({
    dataset: { name: 'upload', id: '01900000-0000-7000-8000-0000000b0024' },
    model: { layers: [{ type: 'dense', units: 64, activation: 'relu' }, { type: 'dense', units: Number(classes) }] },
    optimizer: 'adam',
    learningRate: 0.001,
    batchSize,
    // Enough epochs for the steps: a small table is gone through several times.
    epochs: Math.ceil((steps * batchSize) / dataset.rows) + 1,
    validationSplit: 0,
    logEveryBatches: 1,
    seed: 24,
  }),
);
const controller = new AbortController();
let setupSeconds = 0;
let warmAt = 0;
let doneAt = 0;
try {
  await runTraining(
    spec,
    {
      emit: (event) => {
        if (event.type === 'started') setupSeconds = (performance.now() - start) / 1000;
        if (event.type !== 'batchMetrics') return;
        if (event.step === WARM_STEPS) warmAt = performance.now();
        if (event.step === steps) {
          doneAt = performance.now();
          controller.abort('cancel');
        }
      },
    },
    { backend, signal: controller.signal, uploaded: dataset },
  );
} catch (error) {
  if (!(error instanceof TrainingAbortedError)) throw error;
}
if (doneAt === 0) throw new Error(`the run ended before step ${steps}: the run stopped early`);
const samplesPerSecond = ((steps - WARM_STEPS) * batchSize) / ((doneAt - warmAt) / 1000);
console.log(JSON.stringify({ samplesPerSecond, setupSeconds, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
