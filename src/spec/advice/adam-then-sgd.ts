import { LONG_RUN_STEPS, runOf, type AdviceRule } from './advice.js';

/** A long run on Adam alone: switching to SGD for the end often generalises better. */
export const adamThenSgd: AdviceRule = {
  code: 'adamThenSgd',
  source: 'Lecture: "Adam first, then SGD"; Wilson et al. 2017; Keskar & Socher 2017; optimizer phases in docs/techniques/optimization.md',
  check(context) {
    const { spec } = context;
    if (spec.task !== 'train' || Array.isArray(spec.optimizer)) return [];
    if (spec.optimizer.type !== 'adam' && spec.optimizer.type !== 'adamw') return [];
    const { totalSteps } = runOf(context);
    if (totalSteps < LONG_RUN_STEPS) return [];
    const switchAt = Math.max(1, Math.round(spec.epochs / 2));
    return [
      {
        path: ['optimizer'],
        reason:
          `${totalSteps} steps on ${spec.optimizer.type} alone: Adam makes fast early progress, while SGD with momentum tends to end at solutions that generalise better; ` +
          (spec.epochs >= 2
            ? `run it as phases, e.g. [{optimizer: "${spec.optimizer.type}", untilEpoch: ${switchAt}}, {optimizer: "momentum"}]`
            : 'run it as phases over at least two epochs, Adam first, then momentum'),
      },
    ];
  },
};
