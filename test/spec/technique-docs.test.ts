import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { initializerNames } from '../../src/spec/initializer-spec.js';
import { optimizerNames } from '../../src/spec/optimizer-spec.js';
import { scheduleSchema } from '../../src/spec/schedule-spec.js';
import { renderSpecReference } from '../../src/spec/spec-reference.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const pages = ['optimization', 'regularization', 'initialization'] as const;
const page = (name: (typeof pages)[number]) => read(`docs/techniques/${name}.md`);

describe('the techniques\' documentation lives in the repository', () => {
  it('one page per area, and the README links each', () => {
    expect(readdirSync(path.join(root, 'docs/techniques')).sort()).toEqual(pages.map((name) => `${name}.md`).sort());
    const readme = read('README.md');
    for (const name of pages) expect(readme).toContain(`(docs/techniques/${name}.md)`);
  });

  it('nothing points outside it: not the README, the generated reference, the OpenAPI document or the pages', () => {
    const texts = { 'README.md': read('README.md'), reference: renderSpecReference(), 'openapi/openapi.json': read('openapi/openapi.json'), ...Object.fromEntries(pages.map((name) => [name, page(name)])) };
    for (const [name, text] of Object.entries(texts)) {
      expect(text, name).not.toMatch(/\.\.\/shared|TECHNIQUES\.md/);
    }
    // Relative links in the pages resolve to files in the repository.
    for (const name of pages) {
      for (const [, target] of page(name).matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)/g)) {
        if (/^https?:/.test(target!)) continue;
        expect(existsSync(path.join(root, 'docs/techniques', target!)), `${name}.md links ${target}`).toBe(true);
      }
    }
  });

  it('each page covers every technique of its area that the spec offers', () => {
    const optimization = page('optimization');
    for (const name of optimizerNames) expect(optimization).toContain(`\`${name}\``);
    for (const option of scheduleSchema.options) expect(optimization).toContain(`\`${option.shape.type.value}\``);
    for (const field of ['weightDecay', 'dampening', 'centered', 'amsgrad', 'warmupSteps', 'warmupEpochs', 'clipNorm', 'gradientNoise', 'divergence', 'lrRangeTest', 'shuffle']) {
      expect(optimization).toContain(`\`${field}`);
    }
    const regularization = page('regularization');
    for (const field of ['earlyStopping', 'baseline', 'restoreBest', 'l1', 'maxNorm', 'noiseShape', 'dropoutMode', 'batchNormalization', 'center', 'recurrentBatchNorm', 'layerNormalization', 'auxiliaryHeads', 'labelSmoothing', 'confidencePenalty', 'entropyThreshold']) {
      expect(regularization).toContain(field);
    }
    const initialization = page('initialization');
    for (const name of initializerNames) expect(initialization).toContain(`\`${name}\``);
    for (const field of ['irnn', 'freeze', 'linearProbe', 'transfer', 'progressive']) expect(initialization).toContain(field);
    // Every page says what a user porting from PyTorch or Keras writes there.
    for (const name of pages) expect(page(name)).toMatch(/PyTorch/);
  });

  it('states what holds for He initialization, not a factor-of-2 bound some seeds break', () => {
    for (const text of [read('docs/job-spec.md'), page('initialization')]) {
      expect(text).not.toMatch(/keeps every\s+ratio within \[0\.5, 2\]/);
      expect(text).toMatch(/0\.68/);
    }
  });
});
