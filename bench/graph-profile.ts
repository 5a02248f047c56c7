// Where a graph bench model's training step goes, kernel by kernel (TF.js's profiler, 10 steps after 5 to warm up):
//   node --import tsx bench/graph-profile.ts <backend> <model index: 0 Transformer, 1 ResNet-8> [rounds]
// BLAS_THREADS sets native's kernel threads. Kernel times are wall time around each kernel, so
// the backward pass's kernels (Conv2DBackpropFilter, …) appear under their own names.
import * as tf from '@tensorflow/tfjs';
import { backendPreferenceSchema, trainingProcessSettingsSchema } from '../src/config/config.js';
import { backendChoiceOf, selectBackend } from '../src/engine/backend.js';
import { graphModels, graphSetup } from './graph-models.js';
import { step } from './training-throughput.js';

tf.enableProdMode();
const [backendName, modelIndex, roundsArg] = process.argv.slice(2);
const { options } = backendChoiceOf(trainingProcessSettingsSchema.parse(process.env));
const backend = await selectBackend(backendPreferenceSchema.parse(backendName), options);
const benchModel = graphModels[Number(modelIndex)]!;
const { model, optimizer, x, y } = graphSetup(benchModel);
const once = async () => {
  const loss = step(model, optimizer, x, y);
  await loss.data();
  loss.dispose();
};
for (let i = 0; i < 5; i++) await once();

const rounds = Number(roundsArg ?? 10);
// Kernel name and the shape of its first input: a conv's forward and backward at each size are separate rows.
const totals = new Map<string, { kernel: string; ms: number; calls: number }>();
const byKernel = new Map<string, { ms: number; calls: number }>();
let profiledMs = 0;
for (let r = 0; r < rounds; r++) {
  const start = performance.now();
  const info = await tf.profile(once);
  profiledMs += performance.now() - start;
  for (const kernel of info.kernels) {
    const ms = await kernel.kernelTimeMs;
    const time = typeof ms === 'number' ? ms : 0;
    const key = `${kernel.name} ${JSON.stringify(kernel.inputShapes[0] ?? [])}${kernel.inputShapes[1] ? ` ${JSON.stringify(kernel.inputShapes[1])}` : ''}`;
    const total = totals.get(key) ?? { kernel: kernel.name, ms: 0, calls: 0 };
    total.ms += time;
    total.calls += 1;
    totals.set(key, total);
    const named = byKernel.get(kernel.name) ?? { ms: 0, calls: 0 };
    named.ms += time;
    named.calls += 1;
    byKernel.set(kernel.name, named);
  }
}
const kernelMs = [...byKernel.values()].reduce((sum, t) => sum + t.ms, 0) / rounds;
const start = performance.now();
for (let i = 0; i < 10; i++) await once();
const unprofiledMs = (performance.now() - start) / 10;
console.log(`${benchModel.name} on ${backend.device}, batch ${benchModel.batch}: ${rounds} profiled steps`);
console.log(`kernel ms per step ${kernelMs.toFixed(1)}, profiled step ${(profiledMs / rounds).toFixed(1)} ms, unprofiled step ${unprofiledMs.toFixed(1)} ms\n`);
console.log('By kernel:');
console.table(
  [...byKernel]
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, 25)
    .map(([kernel, t]) => ({ kernel, msPerStep: +(t.ms / rounds).toFixed(2), share: `${((100 * t.ms) / rounds / kernelMs).toFixed(1)} %`, callsPerStep: t.calls / rounds })),
);
console.log('By kernel and input shapes:');
console.table(
  [...totals]
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, 25)
    .map(([key, t]) => ({ kernel: key, msPerStep: +(t.ms / rounds).toFixed(2), share: `${((100 * t.ms) / rounds / kernelMs).toFixed(1)} %`, callsPerStep: t.calls / rounds })),
);
