import { describe, expect, it } from 'vitest';
import type { StreamEventMessage } from '../../src/client/index.js';
import { advance, epochLine, initialProgress, progressLine } from '../../src/cli/progress-display.js';

const event = (type: StreamEventMessage['type'], data: Record<string, unknown>, at: number): StreamEventMessage => ({
  kind: 'event',
  jobId: '01a22f4e-3ec0-7000-8000-000000000000',
  seq: at,
  type,
  data,
  createdAt: new Date(Date.UTC(2026, 0, 1) + at * 1000).toISOString(),
  emittedAt: new Date(Date.UTC(2026, 0, 1) + at * 1000).toISOString(),
});

describe('the CLI progress line', () => {
  it('shows samples/s and time left from the pace of the steps, in the width given', () => {
    let state = initialProgress(40);
    state = advance(state, event('started', { totalSteps: 400, stepsPerEpoch: 10, trainRows: 1280 }, 0));
    state = advance(state, event('metrics', { scope: 'batch', epoch: 1, step: 10, progress: 0.025, values: { loss: 1 } }, 1));
    state = advance(state, event('metrics', { scope: 'batch', epoch: 2, step: 20, progress: 0.05, values: { loss: 0.9 } }, 2));
    // 10 steps a second of 128 rows; 380 steps left.
    expect(progressLine(state, 79)).toBe('[##............................]   5%  epoch 2/40  1.3k samples/s  38s left');
    for (const width of [79, 60, 40]) expect(progressLine(state, width).length).toBeLessThanOrEqual(width);
  });

  it('puts an epoch with many metrics on one line that fits, losses first', () => {
    const values = { accuracy: 0.91234, loss: 0.31234, val_loss: 0.35, val_accuracy: 0.9, entropy: 0.4, test_loss: 0.3, test_accuracy: 0.91, learning_rate: 0.001, huge: 123456789 };
    const line = epochLine(7, 40, values, { durationMs: 1234, samplesPerSecond: 25_000 }, 79);
    expect(line.length).toBeLessThanOrEqual(79);
    expect(line).toMatch(/^epoch {2}7\/40 {2}loss 0\.3123 {2}val_loss 0\.35 {2}accuracy 0\.9123 .*…  1s 25k\/s$/);
    expect(line).not.toContain('learning_rate');
  });
});
