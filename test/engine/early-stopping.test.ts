import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import type { CheckpointData } from '../../src/engine/checkpoint-data.js';
import type { TrainingEvent } from '../../src/engine/events.js';
import { runTraining } from '../../src/engine/trainer.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import { testBackend } from '../support/test-backend.js';
import { tinyIrisSpec } from '../support/specs.js';

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

// Rate 0.3 on a small net: val_loss improves at first, then wanders, so patience runs out.
const spec = (earlyStopping: JobSpecInput['earlyStopping'], overrides: Partial<JobSpecInput> = {}) =>
  resolveJobSpec(jobSpecSchema.parse(tinyIrisSpec({ epochs: 200, batchSize: 16, learningRate: 0.3, earlyStopping, ...overrides })));

async function run(input: ReturnType<typeof spec>, options: { stopAt?: number; resumeFrom?: CheckpointData } = {}) {
  const events: TrainingEvent[] = [];
  const checkpoints: CheckpointData[] = [];
  const controller = new AbortController();
  const result = await runTraining(
    input,
    {
      emit: (event) => {
        events.push(event);
        if (event.type === 'epochMetrics' && event.epoch === options.stopAt) controller.abort('pause');
      },
      checkpoint: (data) => checkpoints.push(data),
    },
    { backend, signal: controller.signal, resumeFrom: options.resumeFrom },
  ).catch(() => null);
  return { events, checkpoints, result };
}

describe('early stopping', () => {
  it('stops after `patience` epochs without improvement and says why, restoring the best weights', async () => {
    const { events, result, checkpoints } = await run(spec({ monitor: 'val_loss', patience: 3, restoreBest: true }));
    const stop = events.find((e): e is Extract<TrainingEvent, { type: 'earlyStop' }> => e.type === 'earlyStop');
    expect(stop).toBeDefined();
    expect(stop!.epoch - stop!.bestEpoch).toBe(3);
    expect(result!.epochs).toBe(stop!.epoch);
    expect(result!.stopReason).toMatch(/^early stop at epoch \d+, best val_loss [\d.]+ at epoch \d+ \(its weights restored\)$/);
    const epochs = events.filter((e): e is Extract<TrainingEvent, { type: 'epochMetrics' }> => e.type === 'epochMetrics');
    const best = epochs.find((e) => e.epoch === stop!.bestEpoch)!;
    expect(best.values.val_loss).toBe(Math.min(...epochs.map((e) => e.values.val_loss!)));
    // The run ends with the best epoch's metrics, and the final checkpoint holds its weights.
    expect(result!.finalMetrics).toEqual(best.values);
    const final = checkpoints.at(-1)!;
    expect(final.reason).toBe('final');
    expect(new Float32Array(final.model.weightData)).toEqual(final.bestWeights);
  });

  it('maximises accuracies in auto mode, and without restoreBest keeps the last weights', async () => {
    const { events, result } = await run(spec({ monitor: 'val_accuracy', patience: 2, restoreBest: false }));
    const stop = events.find((e): e is Extract<TrainingEvent, { type: 'earlyStop' }> => e.type === 'earlyStop')!;
    const epochs = events.filter((e): e is Extract<TrainingEvent, { type: 'epochMetrics' }> => e.type === 'epochMetrics');
    expect(stop.best).toBe(Math.max(...epochs.map((e) => e.values.val_accuracy!)));
    expect(result!.stopReason).not.toContain('restored');
    expect(result!.finalMetrics).toEqual(epochs.at(-1)!.values);
  });

  it('continues exactly across a pause (counter and best weights are in the checkpoint)', async () => {
    const input = spec({ monitor: 'val_loss', patience: 3, restoreBest: true });
    const straight = await run(input);
    const first = await run(input, { stopAt: 3 });
    const second = await run(input, { resumeFrom: first.checkpoints.at(-1)! });
    expect(second.result!.stopReason).toBe(straight.result!.stopReason);
    expect(new Float32Array(second.checkpoints.at(-1)!.model.weightData)).toEqual(new Float32Array(straight.checkpoints.at(-1)!.model.weightData));
  });

  it('a val_ monitor needs a validation split', () => {
    const parsed = jobSpecSchema.safeParse(tinyIrisSpec({ validationSplit: 0, earlyStopping: { monitor: 'val_loss' } }));
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toContain('earlyStopping.monitor');
  });
});
