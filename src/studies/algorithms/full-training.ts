import { drawPoint, gridPoints, type TrialParams } from '../search-space.js';
import { activeTrials, trialRng, type Decision, type SearchStrategy, type StudyState } from './search-strategy.js';

/**
 * Grid and random search: every trial trains to the end (maxEpochs); the scheduler only keeps
 * maxConcurrentTrials of them going until maxTrials have started.
 */
export class FullTraining implements SearchStrategy {
  private grid: TrialParams[] | null = null;

  constructor(private readonly kind: 'grid' | 'random') {}

  resultFor(_trial: unknown, epoch: number, value: number) {
    return { epoch, value };
  }

  decide(state: StudyState): Decision[] {
    const { spec } = state;
    const decisions: Decision[] = [];
    let slots = spec.maxConcurrentTrials - activeTrials(state.trials).length;
    let epochsLeft = state.epochsLeft;
    let number = state.trials.length;
    while (slots > 0 && number < spec.maxTrials && !state.timeUp && epochsLeft >= spec.maxEpochs) {
      number += 1;
      decisions.push({ kind: 'start', number, params: this.pointOf(state, number), bracket: 0, targetEpoch: spec.maxEpochs });
      slots -= 1;
      epochsLeft -= spec.maxEpochs;
    }
    return decisions;
  }

  private pointOf(state: StudyState, number: number): TrialParams {
    if (this.kind === 'grid') {
      this.grid ??= gridPoints(state.spec.space);
      return this.grid[number - 1]!;
    }
    return drawPoint(state.spec.space, trialRng(state.spec, number));
  }
}
