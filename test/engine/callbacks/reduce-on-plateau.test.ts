import { describe, expect, it } from 'vitest';
import { ReduceOnPlateau } from '../../../src/engine/callbacks/reduce-on-plateau.js';
import { resolveSchedule, scheduleSchema } from '../../../src/spec/schedule-spec.js';

const schedule = resolveSchedule(scheduleSchema.parse({ type: 'reduceOnPlateau', initial: 0.1, patience: 1, factor: 0.5, cooldown: 1 }), 0.1);
const series = [1, 0.9, 0.95, 0.96, 0.97, 0.8, 0.85, 0.86, 0.87, 0.88];

function rates(callback: ReduceOnPlateau, from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) {
    out.push(callback.rate!);
    callback.onEpochEnd({ epoch: i + 1, metrics: { val_loss: series[i]!, loss: series[i]! }, last: false });
  }
  return out;
}

describe('ReduceOnPlateau (the schedule\'s state; its formulas are checked against PyTorch in pytorch-reference.test.ts)', () => {
  it('continues exactly from its state, as a resumed run does', () => {
    const straight = new ReduceOnPlateau('val_loss');
    straight.enterPhase(0, schedule);
    const expected = rates(straight, 0, series.length);
    const first = new ReduceOnPlateau('val_loss');
    first.enterPhase(0, schedule);
    const head = rates(first, 0, 4);
    const resumed = new ReduceOnPlateau('val_loss');
    resumed.enterPhase(0, schedule);
    const state = first.state();
    resumed.restore(JSON.parse(JSON.stringify(state)) as typeof state);
    resumed.enterPhase(0, schedule);
    expect([...head, ...rates(resumed, 4, series.length)]).toEqual(expected);
    expect(expected).toContain(0.05);
  });

  it('starts afresh in a new phase, and idles under another schedule', () => {
    const callback = new ReduceOnPlateau('loss');
    callback.enterPhase(0, schedule);
    rates(callback, 0, 6);
    expect(callback.rate).toBeLessThan(0.1);
    callback.enterPhase(1, schedule);
    expect(callback.rate).toBe(0.1);
    callback.enterPhase(2, { type: 'constant', initial: 0.3 });
    expect(callback.rate).toBeUndefined();
    expect(callback.onEpochEnd({ epoch: 1, metrics: { loss: 1 }, last: false })).toBeNull();
  });
});
