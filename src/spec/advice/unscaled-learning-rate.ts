import { defaultLearningRates } from '../optimizer-spec.js';
import { initialRate, num, phasesOf, type AdviceRule, type Finding } from './advice.js';

/** The batch size the optimizers' default rates go with: the spec's default batchSize. */
export const BASE_BATCH_SIZE = 32;
/** A batch this many times larger (or smaller) than the base is a change the rate should follow. */
const FACTOR = 4;

/**
 * The batch size moved far from the base its rate was chosen for, and the rate did not move: the
 * rate is still the optimizer's default (the one for batches of 32) and no linearScaling scales it.
 */
export const unscaledLearningRate: AdviceRule = {
  code: 'unscaledLearningRate',
  source: 'Linear scaling rule (Goyal et al. 2017), the lecture\'s batch-size tip; linearScaling in docs/techniques/optimization.md',
  check({ spec }) {
    if (spec.linearScaling || spec.task !== 'train') return [];
    const ratio = spec.batchSize / BASE_BATCH_SIZE;
    if (ratio < FACTOR && ratio > 1 / FACTOR) return [];
    const findings: Finding[] = [];
    for (const phase of phasesOf(spec)) {
      const base = defaultLearningRates[phase.optimizer.type];
      if (initialRate(phase.rate) !== base) continue;
      const scaled = (base * spec.batchSize) / BASE_BATCH_SIZE;
      findings.push({
        path: ['batchSize'],
        reason:
          `batchSize ${spec.batchSize} is ${num(ratio)}× the ${BASE_BATCH_SIZE} that ${phase.optimizer.type}'s default rate ${base} goes with, but the rate is still that default: ` +
          `a batch k times larger averages away noise and wants a rate k times larger (η = ${base} · ${spec.batchSize}/${BASE_BATCH_SIZE} = ${num(scaled)}). ` +
          `Set linearScaling {baseBatchSize: ${BASE_BATCH_SIZE}, baseLearningRate: ${base}} (with a warm-up for large factors) or a learningRate of your own`,
      });
      break;
    }
    return findings;
  },
};
