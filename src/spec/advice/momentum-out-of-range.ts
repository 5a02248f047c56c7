import { phasesOf, type AdviceRule, type Finding } from './advice.js';

const LOW = 0.5;
const HIGH = 0.99;

/** Momentum outside the range that works in practice (0.5 early, 0.9, up to 0.99 late in training). */
export const momentumOutOfRange: AdviceRule = {
  code: 'momentumOutOfRange',
  source: 'Lecture: momentum μ typically 0.5, 0.9 or 0.99; Sutskever et al. 2013; docs/techniques/optimization.md',
  check({ spec }) {
    const findings: Finding[] = [];
    for (const { optimizer, optimizerPath } of phasesOf(spec)) {
      const momentum = optimizer.type === 'momentum' || optimizer.type === 'nesterov' ? optimizer.momentum : optimizer.type === 'rmsprop' && optimizer.momentum > 0 ? optimizer.momentum : null;
      if (momentum === null || (momentum >= LOW && momentum <= HIGH)) continue;
      findings.push({
        path: [...optimizerPath, 'momentum'],
        reason:
          momentum < LOW
            ? `momentum ${momentum} is below ${LOW}: it averages too few gradients to smooth the path (0 is plain SGD); 0.9 is the usual value`
            : `momentum ${momentum} is above ${HIGH}: the velocity remembers over ${Math.round(1 / (1 - momentum))} steps and overshoots; 0.9 is the usual value, 0.99 at most`,
      });
    }
    return findings;
  },
};
