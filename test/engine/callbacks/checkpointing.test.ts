import { describe, expect, it } from 'vitest';
import { Checkpointing } from '../../../src/engine/callbacks/checkpointing.js';
import { MonitoredMetric } from '../../../src/engine/callbacks/monitored-metric.js';

describe('Checkpointing', () => {
  it('writes every everyEpochs epochs and marks the epochs that improved the monitor', async () => {
    const written: [string, number | undefined, boolean][] = [];
    const callback = new Checkpointing(2, new MonitoredMetric('val_loss', 'auto'), async (reason, metrics, isBest) => {
      written.push([reason, metrics.val_loss, isBest]);
    });
    for (const [i, value] of [0.5, 0.4, 0.45, 0.3, 0.35, 0.36].entries()) {
      const end = { epoch: i + 1, metrics: { val_loss: value }, last: false };
      callback.onEpochEnd(end);
      await callback.onEpochAccepted(end);
    }
    expect(written).toEqual([
      ['epoch', 0.4, true],
      ['epoch', 0.3, true],
      ['epoch', 0.36, false],
    ]);
    await callback.final({ val_loss: 0.3 }, true);
    await callback.final({ val_loss: 0.36 }, false);
    expect(written.slice(3)).toEqual([
      ['final', 0.3, true],
      ['final', 0.36, false],
    ]);
  });
});

describe('MonitoredMetric', () => {
  it('maximises accuracies in auto mode and applies minDelta or a threshold', () => {
    expect(new MonitoredMetric('val_accuracy', 'auto').maximise).toBe(true);
    expect(new MonitoredMetric('val_loss', 'auto').maximise).toBe(false);
    const delta = new MonitoredMetric('loss', 'min', { minDelta: 0.1 });
    expect(delta.isImprovement(0.85, 1)).toBe(true);
    expect(delta.isImprovement(0.95, 1)).toBe(false);
    const relative = new MonitoredMetric('loss', 'min', { threshold: 0.1, thresholdMode: 'rel' });
    expect(relative.isImprovement(0.89, 1)).toBe(true);
    expect(relative.isImprovement(0.91, 1)).toBe(false);
    expect(relative.isImprovement(5, relative.worst)).toBe(true);
    expect(relative.isImprovement(Number.NaN, relative.worst)).toBe(false);
    expect(relative.valueIn({ loss: Number.NaN })).toBeUndefined();
  });
});
