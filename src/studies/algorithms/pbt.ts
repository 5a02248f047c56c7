import type { ResolvedStudySpec, SearchAlgorithm } from '../../spec/study-spec.js';
import { applyParams, drawPoint, pathSegments, perturb, type TrialParams } from '../search-space.js';
import { optimizerTypeOf } from '../optimizer-type.js';
import type { TrialWithJob } from '../study-types.js';
import { activeTrials, byObjective, latestResult, trialRng, type Decision, type SearchStrategy, type StudyState } from './search-strategy.js';

type Pbt = Extract<SearchAlgorithm, { type: 'pbt' }>;

/** Random draws for exploit decisions come from their own stream, apart from the trials' starting points. */
const EXPLOIT_STREAM = 1;

/**
 * Population-based training (Jaderberg et al. 2017), asynchronous as Ray Tune's: the population
 * trains in intervals of `perturbationInterval` epochs. A trial that ends an interval in the bottom
 * `quantileFraction` of the population (by each trial's latest objective) exploits: it continues
 * from the checkpoint (weights and optimizer state) of a trial drawn from the top fraction, with
 * that trial's values explored (perturbed or drawn again). Otherwise it continues as it was.
 */
export class PbtStrategy implements SearchStrategy {
  constructor(
    private readonly spec: ResolvedStudySpec,
    private readonly algorithm: Pbt,
  ) {}

  resultFor(_trial: TrialWithJob, epoch: number, value: number) {
    return { epoch, value };
  }

  private nextTarget(epoch: number): number {
    return Math.min(this.spec.maxEpochs, epoch + this.algorithm.perturbationInterval);
  }

  /**
   * The exploiting trial continues its donor's optimizer state, which only an optimizer of the same
   * type can use: when explore would change the type, the optimizer's choices stay the donor's. The
   * starting population still draws the type, so PBT searches it as the other algorithms do.
   */
  private inheritOptimizer(donor: TrialParams, explored: TrialParams): TrialParams {
    const typeOf = (params: TrialParams) => optimizerTypeOf(applyParams(this.spec.base, params).optimizer);
    if (typeOf(explored) === typeOf(donor)) return explored;
    const kept = { ...explored };
    for (const [path, param] of Object.entries(this.spec.space)) if (param.type === 'choice' && pathSegments(path)[0] === 'optimizer') kept[path] = donor[path];
    return kept;
  }

  decide(state: StudyState): Decision[] {
    const { spec, trials } = state;
    const decisions: Decision[] = [];
    let slots = spec.maxConcurrentTrials - activeTrials(trials).length;
    let epochsLeft = state.epochsLeft;
    const ranked = trials
      .filter((trial) => latestResult(trial) && trial.state !== 'failed' && trial.state !== 'cancelled' && trial.state !== 'stopped')
      .sort(byObjective(spec, (trial) => latestResult(trial)!.value));
    let quantile = Math.ceil(ranked.length * this.algorithm.quantileFraction);
    if (quantile > ranked.length / 2) quantile = Math.floor(ranked.length / 2);
    const top = ranked.slice(0, quantile);
    const bottom = new Set(ranked.slice(ranked.length - quantile).map((trial) => trial.id));
    // A donor must be able to go on: its newest checkpoint is at its latest result, before the end.
    const donors = top.filter((trial) => trial.state === 'waiting' || (trial.state === 'training' && latestResult(trial)!.epoch < spec.maxEpochs));

    for (const trial of trials.filter((t) => t.state === 'waiting').sort((a, b) => a.number - b.number)) {
      if (slots === 0 || state.timeUp) break;
      const at = latestResult(trial)!.epoch;
      const rng = trialRng(spec, trial.number, EXPLOIT_STREAM * 100_003 + at);
      const eligible = donors.filter((donor) => donor.id !== trial.id);
      if (bottom.has(trial.id) && eligible.length > 0) {
        const donor = eligible[Math.floor(rng() * eligible.length)]!;
        const fromEpoch = latestResult(donor)!.epoch;
        const target = this.nextTarget(fromEpoch);
        if (target - fromEpoch > epochsLeft) continue;
        const explored = perturb(spec.space, donor.params, rng, { resampleProbability: this.algorithm.resampleProbability, factors: this.algorithm.perturbationFactors });
        const params = this.inheritOptimizer(donor.params, explored);
        decisions.push({ kind: 'exploit', trial, donor, fromEpoch, params, targetEpoch: target });
        epochsLeft -= target - fromEpoch;
      } else {
        const target = this.nextTarget(at);
        if (target - at > epochsLeft) continue;
        decisions.push({ kind: 'continue', trial, targetEpoch: target });
        epochsLeft -= target - at;
      }
      slots -= 1;
    }

    let number = trials.length;
    while (slots > 0 && number < spec.maxTrials && !state.timeUp && epochsLeft >= this.nextTarget(0)) {
      number += 1;
      decisions.push({ kind: 'start', number, params: drawPoint(spec.space, trialRng(spec, number)), bracket: 0, targetEpoch: this.nextTarget(0) });
      slots -= 1;
      epochsLeft -= this.nextTarget(0);
    }
    return decisions;
  }
}
