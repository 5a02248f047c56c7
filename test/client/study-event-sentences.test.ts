import { describe, expect, it } from 'vitest';
import type { StudyEvent } from '../../src/client/index.js';
import { describeStudyEvent, formatParams } from '../../src/client/study-event-sentences.js';

const context = { metric: 'val_accuracy' };
const say = (type: StudyEvent['type'], data: Record<string, unknown>) => describeStudyEvent(type, data, context);

describe("a study's events as sentences", () => {
  it('says each decision in plain words, the scheduler reason once', () => {
    expect(say('status', { status: 'running' })).toBe('study running');
    expect(say('status', { status: 'paused', reason: 'pause requested' })).toBe('study paused: pause requested');
    expect(say('trialStarted', { trial: 3, job: 'j', params: { 'optimizer.learningRate': 0.012345678, batchSize: 64 }, targetEpoch: 1 })).toBe(
      'trial 3 started: optimizer.learningRate = 0.01235, batchSize = 64',
    );
    expect(say('trialResult', { trial: 3, epoch: 3, value: 0.91234567, rung: 1 })).toBe('trial 3 at epoch 3 (rung 2): val_accuracy 0.9123');
    expect(
      say('promoted', { trial: 2, fromEpoch: 3, targetEpoch: 9, reason: "promoted at rung 2 (epoch 3): val_accuracy 0.9333 ranks 1 of 3, in the rung's top 1/3" }),
    ).toBe("trial 2 promoted at rung 2 (epoch 3) to epoch 9: val_accuracy 0.9333 ranks 1 of 3, in the rung's top 1/3");
    expect(say('promoted', { trial: 2, fromEpoch: 3, targetEpoch: 9, rung: 1, reason: 'its rung is done' })).toBe('trial 2 promoted at rung 2 from epoch 3 to epoch 9: its rung is done');
    expect(say('stopped', { trial: 5, reason: "stopped at rung 1 (epoch 1): val_accuracy 0.6 ranks 4 of 5, the rung's top 1/3 ends at 0.9" })).toBe(
      "trial 5 stopped at rung 1 (epoch 1): val_accuracy 0.6 ranks 4 of 5, the rung's top 1/3 ends at 0.9",
    );
    expect(say('stopped', { trial: 5, rung: 0, reason: 'the budget is spent' })).toBe('trial 5 stopped at rung 1: the budget is spent');
    expect(say('continued', { trial: 4, fromEpoch: 2, targetEpoch: 3, reason: 'continues to epoch 3' })).toBe('trial 4 goes on from epoch 2 to epoch 3');
    expect(say('exploited', { trial: 4, fromTrial: 1, fromEpoch: 3, atEpoch: 3, job: 'a', previousJob: 'b', params: { learningRate: 0.000123456 }, targetEpoch: 4 })).toBe(
      "trial 4 took trial 1's checkpoint at epoch 3 and explored learningRate = 1.23e-4; it trains on to epoch 4",
    );
    expect(say('trialEnded', { trial: 2, state: 'completed', value: 0.9, epoch: 9 })).toBe('trial 2 completed: val_accuracy 0.9 at epoch 9');
    expect(say('trialEnded', { trial: 6, state: 'failed', reason: 'its job failed: out of memory' })).toBe('trial 6 failed: its job failed: out of memory');
    expect(say('best', { trial: 2, value: 0.912, epoch: 9, job: 'j' })).toBe('best: trial 2, val_accuracy 0.912 at epoch 9');
  });

  it('names the objective generically without a context, and shows an unknown event as data', () => {
    expect(describeStudyEvent('best', { trial: 1, value: 0.25, epoch: 2 })).toBe('best: trial 1, objective 0.25 at epoch 2');
    expect(describeStudyEvent('rewound', { trial: 1 })).toBe('rewound: {"trial":1}');
  });

  it('writes values as people read them: 4 significant digits, names bare, configs as compact JSON', () => {
    expect(formatParams({ learningRate: 0.1234567, units: 16, optimizer: 'adam', momentum: { type: 'momentum', momentum: 0.912345 } })).toBe(
      'learningRate = 0.1235, units = 16, optimizer = adam, momentum = {"type":"momentum","momentum":0.9123}',
    );
    expect(formatParams({})).toBe('');
  });
});
