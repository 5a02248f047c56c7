// A training job's step as the trainer takes it, batch gather included (bench/run.ts's models get
// one fixed batch, so they miss it): the rows of the batch as an int32 tensor, x and y gathered
// from the whole training set (MNIST-sized, 10 000 × 784, one-hot labels), then forward, backward, Adam.
//   node --import tsx bench/job-step.ts <backend> <model index> <budget ms> [stock-gather]
// prints {"msPerStep", "gatherMsPerStep", "device"} as JSON. `stock-gather` puts the stock wasm
// GatherV2 back after the native kernels are installed: the before/after of the native gather.
import * as tf from '@tensorflow/tfjs';
// Registers the stock wasm kernels now, so the stock GatherV2 can be taken before the native one replaces it.
import '@tensorflow/tfjs-backend-wasm';
import { backendPreferenceSchema, trainingProcessSettingsSchema } from '../src/config/config.js';
import { backendChoiceOf, selectBackend } from '../src/engine/backend.js';
import { benchModels, benchSetup, step } from './training-throughput.js';

tf.enableProdMode();
const [backendName, modelIndex, budget, mode] = process.argv.slice(2);
const stockGather = tf.getKernel('GatherV2', 'wasm');
if (mode === 'stock-gather' && !stockGather) throw new Error('the stock GatherV2 is not registered');
const { options } = backendChoiceOf(trainingProcessSettingsSchema.parse(process.env));
const backend = await selectBackend(backendPreferenceSchema.parse(backendName), options);
if (mode === 'stock-gather' && stockGather) {
  tf.unregisterKernel('GatherV2', 'wasm');
  tf.registerKernel(stockGather);
}
const benchModel = benchModels[Number(modelIndex)]!;
const { model, optimizer, x: sample, y: label } = benchSetup(benchModel);
tf.dispose([sample, label]);
const rows = 10_000;
const trainX = tf.randomUniform([rows, ...benchModel.inputShape]);
const trainY = tf.oneHot(tf.randomUniform([rows], 0, 10, 'int32'), 10).toFloat();
let gatherMs = 0;
const once = async () => {
  const picked = Int32Array.from({ length: benchModel.batch }, () => Math.floor(Math.random() * rows));
  const start = performance.now();
  const indices = tf.tensor1d(picked, 'int32');
  const x = tf.gather(trainX, indices);
  const y = tf.gather(trainY, indices);
  gatherMs += performance.now() - start;
  const loss = step(model, optimizer, x, y);
  await loss.data();
  tf.dispose([indices, x, y, loss]);
};
for (let i = 0; i < 5; i++) await once();
gatherMs = 0;
let steps = 0;
const start = performance.now();
while (performance.now() - start < Number(budget) || steps < 3) {
  await once();
  steps += 1;
}
const ms = performance.now() - start;
process.stdout.write(`${JSON.stringify({ msPerStep: ms / steps, gatherMsPerStep: gatherMs / steps, device: backend.device })}\n`);
