// Where a bench step's time goes, kernel by kernel (TF.js's profiler, 30 steps after 20 to warm up):
//   node --import tsx bench/profile-step.ts <backend> <model index: 0 MLP, 1 CNN, 2 LSTM>
import * as tf from '@tensorflow/tfjs';
import { backendPreferenceSchema, trainingProcessSettingsSchema } from '../src/config/config.js';
import { backendChoiceOf, selectBackend } from '../src/engine/backend.js';
import { benchModels, benchSetup, step } from './training-throughput.js';

const [backendName, modelIndex] = process.argv.slice(2);
const { options } = backendChoiceOf(trainingProcessSettingsSchema.parse(process.env));
await selectBackend(backendPreferenceSchema.parse(backendName), options);
const benchModel = benchModels[Number(modelIndex)]!;
const { model, optimizer, x, y } = benchSetup(benchModel);
const once = async () => {
  const loss = step(model, optimizer, x, y);
  await loss.data();
  loss.dispose();
};
for (let i = 0; i < 20; i++) await once();

const rounds = 30;
const totals = new Map<string, { ms: number; calls: number }>();
for (let r = 0; r < rounds; r++) {
  const info = await tf.profile(once);
  for (const kernel of info.kernels) {
    const total = totals.get(kernel.name) ?? { ms: 0, calls: 0 };
    const ms = await kernel.kernelTimeMs;
    total.ms += typeof ms === 'number' ? ms : 0;
    total.calls += 1;
    totals.set(kernel.name, total);
  }
}
const rows = [...totals].sort((a, b) => b[1].ms - a[1].ms).map(([kernel, t]) => ({ kernel, msPerStep: +(t.ms / rounds).toFixed(3), callsPerStep: t.calls / rounds }));
console.table(rows);
const start = performance.now();
for (let i = 0; i < 50; i++) await once();
console.log({ kernelMsPerStep: +rows.reduce((sum, row) => sum + row.msPerStep, 0).toFixed(2), msPerStepUnprofiled: +((performance.now() - start) / 50).toFixed(2) });
