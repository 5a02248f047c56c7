import { describe, expect, it } from 'vitest';
import { PbtStrategy } from '../../src/studies/algorithms/pbt.js';
import { optimizerTypeOf } from '../../src/studies/optimizer-type.js';
import { applyParams, type TrialParams } from '../../src/studies/search-space.js';
import type { TrialWithJob } from '../../src/studies/study-types.js';
import { resolvedStudySpecSchema, searchAlgorithmSchema, type ResolvedStudySpec } from '../../src/spec/study-spec.js';

const parsed = searchAlgorithmSchema.parse({ type: 'pbt', population: 8, perturbationInterval: 3, quantileFraction: 0.25, resampleProbability: 1 });
if (parsed.type !== 'pbt') throw new Error('a pbt algorithm parses as pbt');
const algorithm = parsed;

function studySpec(seed: number): ResolvedStudySpec {
  return resolvedStudySpecSchema.parse({
    base: { optimizer: 'sgd', learningRate: 0.1, epochs: 9 },
    space: {
      optimizer: { type: 'choice', values: ['sgd', 'momentum', 'adam'] },
      'optimizer.learningRate': { type: 'logUniform', low: 1e-4, high: 1 },
      batchSize: { type: 'choice', values: [32, 64, 128] },
    },
    objective: { metric: 'val_accuracy', mode: 'max' },
    algorithm,
    maxTrials: 8,
    maxConcurrentTrials: 8,
    maxEpochs: 9,
    budget: {},
    seed,
  });
}

/** Eight trials paused at epoch 3, trial n scoring n/10: 7 and 8 are the top quantile, 1 and 2 the bottom. */
function population(types: string[]): TrialWithJob[] {
  return types.map((type, index) => {
    const number = index + 1;
    const params: TrialParams = { optimizer: type, 'optimizer.learningRate': 0.01 * number, batchSize: 64 };
    return {
      id: `t${number}`,
      studyId: 's',
      number,
      jobId: `00000000-0000-4000-8000-00000000000${number}`,
      params,
      bracket: 0,
      state: 'waiting',
      targetEpoch: 3,
      segmentStart: 0,
      epochsTrained: 3,
      results: [{ epoch: 3, value: number / 10 }],
      lineage: [],
      reason: null,
      createdAt: '',
      updatedAt: '',
      job: { status: 'paused', pauseAtEpoch: 3, runtimeMs: 0, failureReason: null, progress: 0.33 },
    };
  });
}

describe('PBT over the optimizer type', () => {
  it("an exploiting trial keeps its donor's optimizer type, whatever explore drew, and explores the rest", () => {
    const typesSeen = new Set<string>();
    let learningRatesChanged = 0;
    for (let seed = 0; seed < 40; seed += 1) {
      const spec = studySpec(seed);
      const trials = population(['adam', 'sgd', 'momentum', 'sgd', 'adam', 'momentum', 'momentum', 'adam']);
      const exploits = new PbtStrategy(spec, algorithm).decide({ spec, trials, epochsLeft: Infinity, timeUp: false }).filter((d) => d.kind === 'exploit');
      expect(exploits.map((d) => d.trial.number).sort()).toEqual([1, 2]);
      for (const decision of exploits) {
        const typeOf = (params: TrialParams) => optimizerTypeOf(applyParams(spec.base, params).optimizer);
        expect(typeOf(decision.params)).toBe(typeOf(decision.donor.params));
        typesSeen.add(typeOf(decision.params));
        // resampleProbability 1: the learning rate is drawn again, so explore still happens.
        if (decision.params['optimizer.learningRate'] !== decision.donor.params['optimizer.learningRate']) learningRatesChanged += 1;
      }
    }
    expect([...typesSeen].sort()).toEqual(['adam', 'momentum']);
    expect(learningRatesChanged).toBeGreaterThan(60);
  });

  it('the starting population draws the optimizer type like any choice', () => {
    const spec = studySpec(7);
    const starts = new PbtStrategy(spec, algorithm).decide({ spec, trials: [], epochsLeft: Infinity, timeUp: false });
    expect(starts).toHaveLength(8);
    const types = new Set(starts.map((d) => (d.kind === 'start' ? d.params.optimizer : null)));
    expect(types.size).toBeGreaterThan(1);
  });
});
