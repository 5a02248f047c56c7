import type { ResolvedStudySpec, SearchAlgorithm } from '../../spec/study-spec.js';
import { drawPoint } from '../search-space.js';
import type { TrialResult, TrialWithJob } from '../study-types.js';
import { activeTrials, byObjective, formatValue, trialRng, type Decision, type SearchStrategy, type StudyState } from './search-strategy.js';

type Asha = Extract<SearchAlgorithm, { type: 'asha' }>;

/**
 * Asynchronous successive halving (Li et al., "A System for Massively Parallel Hyperparameter
 * Tuning", 2018). A trial of bracket b pauses at each rung minEpochs·η^(b+k) below maxEpochs. Of
 * the n trials that reached a rung, the top ⌊n/η⌋ are promoted to the next one (continuing from
 * their checkpoint, never retraining), best rung first; with no promotion to make, a new trial
 * starts. A paused trial is stopped as soon as it can no longer enter its rung's top: even if every
 * trial that may still reach the rung did worse, ⌊(n + may still come)/η⌋ would not reach its rank.
 */
export class AshaStrategy implements SearchStrategy {
  private readonly eta: number;

  constructor(
    private readonly spec: ResolvedStudySpec,
    private readonly algorithm: Asha,
  ) {
    this.eta = algorithm.reductionFactor;
  }

  /** The epochs at which a trial of the bracket pauses, below maxEpochs. */
  rungs(bracket: number): number[] {
    const rungs: number[] = [];
    for (let epoch = this.algorithm.minEpochs * this.eta ** bracket; epoch < this.spec.maxEpochs; epoch *= this.eta) rungs.push(epoch);
    return rungs;
  }

  /** Where a trial trains to after `epoch`: the next rung, or the end. */
  nextTarget(bracket: number, epoch: number): number {
    return this.rungs(bracket).find((rung) => rung > epoch) ?? this.spec.maxEpochs;
  }

  resultFor(trial: TrialWithJob, epoch: number, value: number): TrialResult {
    const rung = this.rungs(trial.bracket).indexOf(epoch);
    return { epoch, value, rung: rung >= 0 ? rung : this.rungs(trial.bracket).length };
  }

  decide(state: StudyState): Decision[] {
    const { spec, trials } = state;
    const decisions: Decision[] = [];
    let slots = spec.maxConcurrentTrials - activeTrials(trials).length;
    let epochsLeft = state.epochsLeft;
    const rank = byObjective<TrialWithJob & { value: number }>(spec, (trial) => trial.value);
    const promotable: { trial: TrialWithJob; rung: number; value: number; reason: string }[] = [];

    for (const trial of trials.filter((t) => t.state === 'waiting')) {
      const result = trial.results.at(-1);
      if (result?.rung === undefined) continue;
      const rung = result.rung;
      const recorded = trials
        .filter((other) => other.bracket === trial.bracket)
        .flatMap((other) => {
          const at = other.results.find((r) => r.rung === rung);
          return at ? [{ ...other, value: at.value }] : [];
        })
        .sort(rank);
      const position = recorded.findIndex((other) => other.id === trial.id) + 1;
      const top = Math.floor(recorded.length / this.eta);
      const rungEpoch = this.rungs(trial.bracket)[rung]!;
      const metric = spec.objective.metric;
      if (position <= top) {
        promotable.push({ trial, rung, value: result.value, reason: `promoted at rung ${rung + 1} (epoch ${rungEpoch}): ${metric} ${formatValue(result.value)} ranks ${position} of ${recorded.length}, in the rung's top 1/${this.eta}` });
        continue;
      }
      const mayCome = this.mayStillReach(state, trial.bracket, rungEpoch, rung);
      if (position > Math.floor((recorded.length + mayCome) / this.eta)) {
        const cutoff = top > 0 ? `, the rung's top 1/${this.eta} ends at ${formatValue(recorded[top - 1]!.value)}` : `; no trial of ${recorded.length} can make the rung's top 1/${this.eta}`;
        decisions.push({
          kind: 'stop',
          trial,
          rung,
          reason: `stopped at rung ${rung + 1} (epoch ${rungEpoch}): ${metric} ${formatValue(result.value)} ranks ${position} of ${recorded.length}${cutoff}`,
        });
      }
    }

    promotable.sort((a, b) => b.rung - a.rung || (a.value === b.value ? a.trial.number - b.trial.number : spec.objective.mode === 'max' ? b.value - a.value : a.value - b.value));
    for (const candidate of promotable) {
      if (slots === 0 || state.timeUp) break;
      const from = candidate.trial.results.at(-1)!.epoch;
      const target = this.nextTarget(candidate.trial.bracket, from);
      if (target - from > epochsLeft) continue;
      decisions.push({ kind: 'promote', trial: candidate.trial, targetEpoch: target, reason: candidate.reason, rung: candidate.rung });
      slots -= 1;
      epochsLeft -= target - from;
    }

    let number = trials.length;
    while (slots > 0 && number < spec.maxTrials && !state.timeUp) {
      const bracket = number % this.algorithm.brackets;
      const target = this.nextTarget(bracket, 0);
      if (target > epochsLeft) break;
      number += 1;
      decisions.push({ kind: 'start', number, params: drawPoint(spec.space, trialRng(spec, number)), bracket, targetEpoch: target });
      slots -= 1;
      epochsLeft -= target;
    }
    return decisions;
  }

  /**
   * How many more trials of the bracket may still report at the rung: those training toward it or
   * below it, those paused below it, and those not started yet (none once the budget is spent).
   */
  private mayStillReach(state: StudyState, bracket: number, rungEpoch: number, rung: number): number {
    const { spec, trials } = state;
    let count = 0;
    for (const trial of trials) {
      if (trial.bracket !== bracket) continue;
      if (trial.state === 'training' && trial.targetEpoch <= rungEpoch) count += 1;
      else if (trial.state === 'waiting' && (trial.results.at(-1)?.rung ?? rung) < rung) count += 1;
    }
    if (!state.timeUp && state.epochsLeft >= this.nextTarget(bracket, 0)) {
      for (let number = trials.length + 1; number <= spec.maxTrials; number++) if ((number - 1) % this.algorithm.brackets === bracket) count += 1;
    }
    return count;
  }
}
