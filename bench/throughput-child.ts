// One measurement in a process of its own, so its peak RSS is its own:
//   node --import tsx bench/throughput-child.ts <backend> <model index> <budget ms | steps:N>
// prints {"samplesPerSecond", "peakRssMb", "coresBusy", "device"} as JSON (coresBusy: CPU seconds per second while timed).
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { backendPreferenceSchema, trainingProcessSettingsSchema } from '../src/config/config.js';
import { backendChoiceOf, selectBackend } from '../src/engine/backend.js';
import { benchModels, measure } from './training-throughput.js';

tf.enableProdMode();
const [backendName, modelIndex, budget] = process.argv.slice(2);
const { options } = backendChoiceOf(trainingProcessSettingsSchema.parse(process.env));
const backend = await selectBackend(backendPreferenceSchema.parse(backendName), options);
const model = benchModels[Number(modelIndex)]!;
const fixed = /^steps:(\d+)$/.exec(budget ?? '');
const { steps, ms, cpuMs } = await measure(model, fixed ? { steps: Number(fixed[1]) } : Number(budget), fixed ? Number.POSITIVE_INFINITY : 60_000);
const peakKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);
process.stdout.write(`${JSON.stringify({ samplesPerSecond: (steps * model.batch * 1000) / ms, peakRssMb: peakKb / 1024, coresBusy: cpuMs / ms, device: backend.device })}\n`);
