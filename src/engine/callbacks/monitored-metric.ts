import type { MetricValues } from '../events.js';

export type MonitorMode = 'auto' | 'min' | 'max';

/**
 * An epoch metric watched for improvement, with Keras's and PyTorch's rules: `mode` auto
 * maximises accuracies and minimises the rest; an improvement beats the reference by more than
 * `minDelta` (absolute), or, in `relative` mode, by the fraction `threshold` (ReduceLROnPlateau's
 * "rel" mode).
 */
export class MonitoredMetric {
  readonly maximise: boolean;

  constructor(
    readonly name: string,
    mode: MonitorMode,
    private readonly margin: { minDelta: number } | { threshold: number; thresholdMode: 'rel' | 'abs' } = { minDelta: 0 },
  ) {
    this.maximise = mode === 'max' || (mode === 'auto' && name.endsWith('accuracy'));
  }

  /** The metric's value in an epoch's metrics; undefined when absent or not finite. */
  valueIn(metrics: MetricValues): number | undefined {
    const value = metrics[this.name];
    return value !== undefined && Number.isFinite(value) ? value : undefined;
  }

  /** The value nothing improves on less: ±∞. */
  get worst(): number {
    return this.maximise ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }

  isImprovement(value: number, reference: number): boolean {
    if ('minDelta' in this.margin) return this.maximise ? value - this.margin.minDelta > reference : value + this.margin.minDelta < reference;
    const { threshold, thresholdMode } = this.margin;
    if (thresholdMode === 'rel') return this.maximise ? value > reference * (1 + threshold) : value < reference * (1 - threshold);
    return this.maximise ? value > reference + threshold : value < reference - threshold;
  }
}

/** The metric a run watches by default: val_loss with a validation split, loss without. */
export const defaultMonitor = (validationRows: number) => (validationRows > 0 ? 'val_loss' : 'loss');
