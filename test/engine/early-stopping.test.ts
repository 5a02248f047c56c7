import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import type { CheckpointData, RunState, RunStateV1 } from '../../src/engine/checkpoint-data.js';
import { disposeSplit, splitDataset } from '../../src/engine/dataset-split.js';
import { loadDataset } from '../../src/engine/datasets/loader.js';
import { plainObjective } from '../../src/engine/objective.js';
import { evaluate } from '../../src/engine/train-step.js';
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

  it('resumes from a checkpoint written before callbacks (run state version 1)', async () => {
    const input = spec({ monitor: 'val_loss', patience: 3, restoreBest: true });
    const straight = await run(input);
    const first = await run(input, { stopAt: 3 });
    const paused = first.checkpoints.at(-1)!;
    const state = paused.state as RunState;
    const early = state.callbacks.earlyStopping!.values as { best: { value: number; epoch: number }; bestMetrics: Record<string, number>; wait: number };
    const { callbacks: _callbacks, version: _version, ...counters } = state;
    const v1: RunStateV1 = {
      ...counters,
      version: 1,
      rateScale: 1,
      retries: 0,
      bestLoss: null,
      best: { metric: 'val_loss', ...early.best },
      bestMetrics: early.bestMetrics,
      epochsSinceBest: early.wait,
    };
    const second = await run(input, { resumeFrom: { ...paused, state: v1 } });
    expect(second.result!.stopReason).toBe(straight.result!.stopReason);
    expect(new Float32Array(second.checkpoints.at(-1)!.model.weightData)).toEqual(new Float32Array(straight.checkpoints.at(-1)!.model.weightData));
  });

  it('a val_ monitor needs a validation split', () => {
    const parsed = jobSpecSchema.safeParse(tinyIrisSpec({ validationSplit: 0, earlyStopping: { monitor: 'val_loss' } }));
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toContain('earlyStopping.monitor');
  });
});

type EarlyStopEvent = Extract<TrainingEvent, { type: 'earlyStop' }>;
type EpochEvent = Extract<TrainingEvent, { type: 'epochMetrics' }>;
const epochEvents = (events: TrainingEvent[]) => events.filter((e): e is EpochEvent => e.type === 'epochMetrics');

/** The test split's loss and accuracy of a checkpoint's model, computed here from the split itself. */
async function scoreTestSplit(input: ReturnType<typeof spec>, checkpoint: CheckpointData) {
  const split = splitDataset(loadDataset(input.dataset), input);
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: checkpoint.model.modelTopology, weightSpecs: checkpoint.model.weightSpecs, weightData: checkpoint.model.weightData }));
  try {
    return await evaluate(model, split.testX!, split.testY!, plainObjective(input.loss, true));
  } finally {
    model.dispose();
    disposeSplit(split);
  }
}

describe('early stopping ends with the best model however the run ends (Keras 3), and the test split scores it', () => {
  it('stops and restores the best weights when patience runs out on the last epoch', async () => {
    const straight = await run(spec({ monitor: 'val_loss', patience: 3, restoreBest: true }));
    const stop = straight.events.find((e): e is EarlyStopEvent => e.type === 'earlyStop')!;
    const exact = await run(spec({ monitor: 'val_loss', patience: 3, restoreBest: true }, { epochs: stop.epoch }));
    expect(exact.result!.stopReason).toBe(straight.result!.stopReason);
    const final = exact.checkpoints.at(-1)!;
    expect(final.reason).toBe('final');
    expect(new Float32Array(final.model.weightData)).toEqual(final.bestWeights);
    expect(exact.result!.finalMetrics).toEqual(epochEvents(exact.events).find((e) => e.epoch === stop.bestEpoch)!.values);
  });

  it('ends with the best epoch\'s weights when patience never runs out', async () => {
    const input = spec({ monitor: 'val_loss', patience: 1000, restoreBest: true }, { epochs: 30 });
    const { events, result, checkpoints } = await run(input);
    expect(result!.stopReason).toBeUndefined();
    const epochs = epochEvents(events);
    const best = epochs.reduce((a, b) => (b.values.val_loss! < a.values.val_loss! ? b : a));
    expect(best.epoch).toBeLessThan(30);
    expect(result!.finalMetrics).toEqual(best.values);
    const final = checkpoints.at(-1)!;
    expect(final.isBest).toBe(true);
    expect(new Float32Array(final.model.weightData)).toEqual(final.bestWeights);
    // The same run without restoreBest ends with other (the last epoch's) weights.
    const plain = await run(spec({ monitor: 'val_loss', patience: 1000, restoreBest: false }, { epochs: 30 }));
    expect(new Float32Array(plain.checkpoints.at(-1)!.model.weightData)).not.toEqual(new Float32Array(final.model.weightData));
  });

  it.each([
    ['an early stop', { monitor: 'val_loss' as const, patience: 3, restoreBest: true }, 200],
    ['the last epoch, best weights restored', { monitor: 'val_loss' as const, patience: 1000, restoreBest: true }, 25],
    ['the last epoch, without early stopping', undefined, 25],
  ])('scores the test split on the final model when the run ends at %s', async (_how, earlyStopping, epochs) => {
    const input = spec(earlyStopping, { epochs, testSplit: 0.2 });
    const { events, result, checkpoints } = await run(input);
    const final = checkpoints.at(-1)!;
    const expected = await scoreTestSplit(input, final);
    expect(result!.finalMetrics.test_loss).toBeCloseTo(expected.loss, 6);
    expect(result!.finalMetrics.test_accuracy).toBeCloseTo(expected.score, 6);
    // Reported once, with the last epoch's metrics; the final checkpoint carries them.
    const reported = epochEvents(events).filter((e) => e.values.test_loss !== undefined);
    expect(reported.map((e) => e.epoch)).toEqual([result!.epochs]);
    expect(reported[0]!.values.test_loss).toBe(result!.finalMetrics.test_loss);
    expect(final.metrics.test_loss).toBe(result!.finalMetrics.test_loss);
  });
});
