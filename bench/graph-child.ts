// One measurement of a graph bench model in a process of its own (so its peak RSS is its own):
//   node --import tsx bench/graph-child.ts <backend> <model index> <budget ms | steps:N>
// prints {"samplesPerSecond", "peakRssMb", "coresBusy", "device", "firstStepMs", "steps"} as JSON
// (coresBusy: CPU seconds per second while timed). BLAS_THREADS sets native's kernel threads.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { backendPreferenceSchema, trainingProcessSettingsSchema } from '../src/config/config.js';
import { backendChoiceOf, selectBackend } from '../src/engine/backend.js';
import { graphModels, graphSetup } from './graph-models.js';
import { step } from './training-throughput.js';

tf.enableProdMode();
const [backendName, modelIndex, budget] = process.argv.slice(2);
const { options } = backendChoiceOf(trainingProcessSettingsSchema.parse(process.env));
const backend = await selectBackend(backendPreferenceSchema.parse(backendName), options);
const benchModel = graphModels[Number(modelIndex)]!;
const fixed = /^steps:(\d+)$/.exec(budget ?? '');
const { model, optimizer, x, y } = graphSetup(benchModel);
const once = async () => {
  const loss = step(model, optimizer, x, y);
  const [value] = await loss.data();
  loss.dispose();
  if (!Number.isFinite(value)) throw new Error(`the loss is ${value}`);
};
// The first step pays kernel set-up and is not timed (PyTorch's script skips its first too).
let start = performance.now();
await once();
const firstStepMs = performance.now() - start;
let steps = 0;
const cpuStart = process.cpuUsage();
start = performance.now();
const more = fixed ? () => steps < Number(fixed[1]) : () => performance.now() - start < Number(budget) || steps < 3;
while (more()) {
  await once();
  steps += 1;
}
const ms = performance.now() - start;
const cpu = process.cpuUsage(cpuStart);
const peakKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);
process.stdout.write(
  `${JSON.stringify({ samplesPerSecond: (steps * benchModel.batch * 1000) / ms, peakRssMb: peakKb / 1024, coresBusy: (cpu.user + cpu.system) / 1000 / ms, device: backend.device, firstStepMs, steps })}\n`,
);
