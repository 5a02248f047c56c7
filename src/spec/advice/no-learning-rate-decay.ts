import { decays, LONG_RUN_STEPS, phasesOf, runOf, type AdviceRule } from './advice.js';

/** A long run whose rate never falls: no schedule, no reduce-on-plateau, in any phase. */
export const noLearningRateDecay: AdviceRule = {
  code: 'noLearningRateDecay',
  source: 'Lecture: "learning-rate decay is always good"; schedules in docs/techniques/optimization.md',
  check(context) {
    const { spec } = context;
    if (spec.task !== 'train') return [];
    const phases = phasesOf(spec);
    // Adagrad's steps shrink by themselves as its accumulators grow.
    if (phases.some((phase) => decays(phase.rate) || phase.optimizer.type === 'adagrad')) return [];
    const { totalSteps } = runOf(context);
    if (totalSteps < LONG_RUN_STEPS) return [];
    return [
      {
        path: phases.length === 1 ? phases[0]!.ratePath : ['optimizer'],
        reason:
          `${totalSteps} steps at a constant rate: late in a run the rate that made fast progress keeps the weights bouncing around the minimum; ` +
          'decay it (step, cosine, exponential or reduceOnPlateau) to settle lower',
      },
    ];
  },
};
