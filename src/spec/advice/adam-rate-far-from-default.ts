import { defaultLearningRates } from '../optimizer-spec.js';
import { initialRate, num, phasesOf, type AdviceRule, type Finding } from './advice.js';

/** More than this factor away from Adam's 0.001 is far. */
const FACTOR = 10;

/** Adam (or AdamW) started far from its default rate, which works for most problems. */
export const adamRateFarFromDefault: AdviceRule = {
  code: 'adamRateFarFromDefault',
  source: 'Kingma & Ba 2015 (α = 0.001), the lecture\'s Adam tip; docs/techniques/optimization.md',
  check({ spec }) {
    if (spec.task !== 'train') return [];
    const findings: Finding[] = [];
    for (const { optimizer, rate, ratePath } of phasesOf(spec)) {
      if (optimizer.type !== 'adam' && optimizer.type !== 'adamw') continue;
      const base = defaultLearningRates[optimizer.type];
      const eta = initialRate(rate);
      if (!(eta > base * FACTOR || eta < base / FACTOR)) continue;
      findings.push({
        path: typeof rate === 'number' ? ratePath : [...ratePath, 'initial'],
        reason:
          `${optimizer.type} starts at ${num(eta)}, ${num(eta > base ? eta / base : base / eta)}× ${eta > base ? 'above' : 'below'} its default ${base}: ` +
          `Adam normalises each step by the gradient's scale, so its default rate rarely needs more than a factor of a few either way` +
          (eta > base ? '; a rate this high is likely to make it diverge or stall' : '; a rate this low barely moves the weights'),
      });
    }
    return findings;
  },
};
