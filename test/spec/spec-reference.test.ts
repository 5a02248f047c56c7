import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { renderSpecReference, withSpecReference } from '../../src/spec/spec-reference.js';

describe('README job-spec reference', () => {
  it('is what the zod schema renders today (run `npm run spec-reference` after changing the spec)', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toBe(withSpecReference(readme));
  });

  it('lists every optimizer and schedule with its defaults', () => {
    const reference = renderSpecReference();
    for (const section of ['AdamwOptimizer', 'RmspropOptimizer', 'CosineSchedule', 'GradientNoise', 'DivergenceRecovery', 'LrRangeTest', 'OptimizerPhase']) {
      expect(reference).toContain(`#### ${section}`);
    }
    expect(reference).toMatch(/\| `weightDecay` \| number \| `0\.01` \|/);
    expect(reference).toMatch(/\| `momentum` \| number \| `0\.9` \| ≥ 0, < 1 \|/);
  });
});
