import type { StreamEventMessage } from '../client/index.js';

/** What the progress line needs to know, updated from the job's stream events. */
export interface ProgressState {
  epochs: number;
  epoch: number;
  progress: number;
  step: number;
  totalSteps: number | null;
  /** Rows per step, from the `started` event (train rows / steps per epoch). */
  rowsPerStep: number | null;
  samplesPerSecond: number | null;
  /** Steps per second, smoothed; from event times, so a replay does not skew it. */
  stepRate: number | null;
  lastStepAt: number | null;
}

export const initialProgress = (epochs: number): ProgressState => ({
  epochs,
  epoch: 0,
  progress: 0,
  step: 0,
  totalSteps: null,
  rowsPerStep: null,
  samplesPerSecond: null,
  stepRate: null,
  lastStepAt: null,
});

const SMOOTHING = 0.3;

/** The state after one stream event. */
export function advance(state: ProgressState, event: StreamEventMessage): ProgressState {
  const data = event.data as Record<string, unknown>;
  if (event.type === 'started') {
    const totalSteps = typeof data.totalSteps === 'number' ? data.totalSteps : null;
    const stepsPerEpoch = typeof data.stepsPerEpoch === 'number' ? data.stepsPerEpoch : 0;
    const trainRows = typeof data.trainRows === 'number' ? data.trainRows : 0;
    return { ...state, totalSteps, rowsPerStep: stepsPerEpoch > 0 ? trainRows / stepsPerEpoch : null };
  }
  if (event.type !== 'metrics') return state;
  const at = Date.parse(event.createdAt);
  const step = typeof data.step === 'number' ? data.step : state.step;
  let { stepRate } = state;
  if (state.lastStepAt !== null && at > state.lastStepAt && step > state.step) {
    const rate = ((step - state.step) * 1000) / (at - state.lastStepAt);
    stepRate = stepRate === null ? rate : stepRate + SMOOTHING * (rate - stepRate);
  }
  const measured = typeof data.samplesPerSecond === 'number' ? data.samplesPerSecond : null;
  const estimated = stepRate !== null && state.rowsPerStep !== null ? stepRate * state.rowsPerStep : null;
  return {
    ...state,
    epoch: typeof data.epoch === 'number' ? data.epoch : state.epoch,
    progress: typeof data.progress === 'number' ? data.progress : state.progress,
    step,
    stepRate,
    lastStepAt: at,
    samplesPerSecond: measured ?? estimated ?? state.samplesPerSecond,
  };
}

/** 1234.5 → "1.2k"; the rate column stays narrow. */
export function formatRate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(1)}M`;
  if (perSecond >= 1e4) return `${Math.round(perSecond / 1e3)}k`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k`;
  return perSecond >= 10 ? String(Math.round(perSecond)) : perSecond.toFixed(1);
}

/** Seconds → "42s", "3:07", "1:02:03". */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return m > 0 ? `${m}:${String(s).padStart(2, '0')}` : `${s}s`;
}

/** Seconds left at the current pace, or null before there is a pace. */
export function secondsRemaining(state: ProgressState): number | null {
  if (state.stepRate === null || state.stepRate <= 0 || state.totalSteps === null) return null;
  return Math.max(0, state.totalSteps - state.step) / state.stepRate;
}

/** The line cut to `width` columns, with an ellipsis where it was cut. */
export const fit = (line: string, width: number) => (line.length <= width ? line : `${line.slice(0, Math.max(0, width - 1))}…`);

/**
 * The line that is redrawn in place: a bar as wide as the terminal leaves room for, then the
 * percentage, the epoch, samples per second and the time remaining. Never wider than `width`.
 */
export function progressLine(state: ProgressState, width: number): string {
  const percent = `${String(Math.floor(state.progress * 100)).padStart(3)}%`;
  const remaining = secondsRemaining(state);
  const parts = [
    `epoch ${state.epoch}/${state.epochs}`,
    state.samplesPerSecond !== null ? `${formatRate(state.samplesPerSecond)} samples/s` : '',
    remaining !== null ? `${formatDuration(remaining)} left` : '',
  ].filter(Boolean);
  const tail = ` ${percent}  ${parts.join('  ')}`;
  const barWidth = Math.min(30, width - tail.length - 2);
  if (barWidth < 5) return fit(tail.trimStart(), width);
  const filled = Math.round(state.progress * barWidth);
  return fit(`[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${tail}`, width);
}

/** Metric names in the order people read them: the losses, then the rest as they came. */
function ordered(values: Record<string, number>): [string, number][] {
  const entries = Object.entries(values).filter(([name]) => name !== 'learning_rate');
  const rank = (name: string) => (name === 'loss' ? 0 : name === 'val_loss' ? 1 : 2);
  return entries.sort((a, b) => rank(a[0]) - rank(b[0]));
}

export const formatMetric = (value: number): string => {
  if (value === 0 || !Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  return magnitude >= 1e5 || magnitude < 1e-3 ? value.toExponential(2) : String(Number(value.toPrecision(4)));
};

/** One finished epoch, on one line no wider than `width`: what fits of its metrics, then its time and speed. */
export function epochLine(epoch: number, epochs: number, values: Record<string, number>, extras: { durationMs?: number; samplesPerSecond?: number }, width: number): string {
  const head = `epoch ${String(epoch).padStart(String(epochs).length)}/${epochs}`;
  const tailParts = [
    extras.durationMs !== undefined ? formatDuration(extras.durationMs / 1000) : '',
    extras.samplesPerSecond !== undefined ? `${formatRate(extras.samplesPerSecond)}/s` : '',
  ].filter(Boolean);
  const tail = tailParts.length ? `  ${tailParts.join(' ')}` : '';
  let line = head;
  for (const [name, value] of ordered(values)) {
    const next = `${line}  ${name} ${formatMetric(value)}`;
    if (next.length + tail.length > width) {
      line = `${line} …`;
      break;
    }
    line = next;
  }
  return fit(`${line}${tail}`, width);
}
