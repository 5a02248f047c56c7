// The bare engine on one job spec, as bench/service-overhead.ts compares it with the service:
//   node --import tsx bench/engine-run-child.ts <backend> '<resolved spec JSON>'
// prints {"epochs": [{"epoch", "at", "samplesPerSecond"}]} as JSON: no events kept, no checkpoints.
import * as tf from '@tensorflow/tfjs';
import { backendPreferenceSchema, trainingProcessSettingsSchema } from '../src/config/config.js';
import { backendChoiceOf, selectBackend } from '../src/engine/backend.js';
import { runTraining } from '../src/engine/trainer.js';
import { resolvedJobSpecSchema } from '../src/spec/job-spec.js';

tf.enableProdMode();
const [backendName, specJson] = process.argv.slice(2);
const { options } = backendChoiceOf(trainingProcessSettingsSchema.parse(process.env));
const backend = await selectBackend(backendPreferenceSchema.parse(backendName), options);
const epochs: { epoch: number; at: number; samplesPerSecond: number }[] = [];
await runTraining(
  resolvedJobSpecSchema.parse(JSON.parse(specJson!)),
  { emit: (event) => void (event.type === 'epochMetrics' && epochs.push({ epoch: event.epoch, at: Date.now(), samplesPerSecond: event.samplesPerSecond })) },
  { backend },
);
process.stdout.write(JSON.stringify({ epochs }));
