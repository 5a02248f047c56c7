import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { renderSpecReference, withSpecReference } from '../../src/spec/spec-reference.js';

describe('the job-spec reference (docs/spec-reference.md)', () => {
  it('is what the zod schema renders today (run `npm run spec-reference` after changing the spec)', async () => {
    const reference = await readFile(new URL('../../docs/spec-reference.md', import.meta.url), 'utf8');
    expect(reference).toBe(withSpecReference(reference));
  });

  it('lists every optimizer and schedule with its defaults', () => {
    const reference = renderSpecReference();
    for (const section of ['AdamwOptimizer', 'RmspropOptimizer', 'CosineSchedule', 'GradientNoise', 'DivergenceRecovery', 'LrRangeTest', 'OptimizerPhase']) {
      expect(reference).toMatch(new RegExp(`^## ${section}$`, 'm'));
    }
    expect(reference).toMatch(/\| `weightDecay` \| number \| `0\.01` \|/);
    expect(reference).toMatch(/\| `momentum` \| number \| `0\.9` \| ≥ 0, < 1 \|/);
  });
});
