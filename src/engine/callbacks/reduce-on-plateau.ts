import type { ResolvedSchedule } from '../../spec/schedule-spec.js';
import { MonitoredMetric } from './monitored-metric.js';
import type { CallbackState, EpochEnd, TrainingCallback } from './training-callback.js';

type PlateauSchedule = Extract<ResolvedSchedule, { type: 'reduceOnPlateau' }>;

interface PlateauValues {
  /** The phase whose schedule this state belongs to; a new phase starts afresh. */
  phase: number;
  rate: number;
  /** null: none yet. */
  best: number | null;
  badEpochs: number;
  cooldown: number;
}

/**
 * torch.optim.lr_scheduler.ReduceLROnPlateau, stepped once per epoch with the monitored metric:
 * an epoch that does not improve on the best (by `threshold`, relative or absolute) is a bad one;
 * once more than `patience` bad epochs have passed the rate becomes max(rate · factor, min) (unless
 * that changes it by less than `epsilon`), and bad epochs are ignored for `cooldown` epochs. The new
 * rate applies from the next epoch. Its state is checkpointed, so a resumed run is exact.
 */
export class ReduceOnPlateau implements TrainingCallback {
  readonly name = 'reduceOnPlateau';
  private schedule: PlateauSchedule | null = null;
  private metric: MonitoredMetric | null = null;
  private values: PlateauValues | null = null;

  constructor(private readonly defaultMonitor: string) {}

  /** The schedule of the phase the run is in (a reduceOnPlateau one, or any other to stay idle). */
  enterPhase(phase: number, schedule: ResolvedSchedule): void {
    if (schedule.type !== 'reduceOnPlateau') {
      this.schedule = null;
      this.metric = null;
      this.values = null;
      return;
    }
    this.schedule = schedule;
    this.metric = new MonitoredMetric(schedule.monitor ?? this.defaultMonitor, schedule.mode, { threshold: schedule.threshold, thresholdMode: schedule.thresholdMode });
    if (this.values?.phase !== phase) this.values = { phase, rate: schedule.initial, best: null, badEpochs: 0, cooldown: 0 };
  }

  /** The rate of the current epoch, before divergence recovery's scale. */
  get rate(): number | undefined {
    return this.values?.rate;
  }

  onEpochEnd({ metrics }: EpochEnd): null {
    const { schedule, metric, values } = this;
    if (!schedule || !metric || !values) return null;
    const current = metrics[metric.name];
    if (current === undefined) return null;
    // null stands for torch's initial ±∞ (JSON has no Infinity); a NaN metric is never better, so it counts as a bad epoch.
    if (metric.isImprovement(current, values.best ?? metric.worst)) {
      values.best = current;
      values.badEpochs = 0;
    } else {
      values.badEpochs += 1;
    }
    if (values.cooldown > 0) {
      values.cooldown -= 1;
      values.badEpochs = 0;
    }
    if (values.badEpochs > schedule.patience) {
      const reduced = Math.max(values.rate * schedule.factor, schedule.minLearningRate);
      if (values.rate - reduced > schedule.epsilon) values.rate = reduced;
      values.cooldown = schedule.cooldown;
      values.badEpochs = 0;
    }
    return null;
  }

  state(): CallbackState {
    return { values: this.values ? { ...this.values } : null, tensors: [] };
  }

  restore(state: CallbackState): void {
    this.values = state.values ? { ...(state.values as PlateauValues) } : null;
  }
}
