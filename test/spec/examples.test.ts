import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import type { TrainingEvent } from '../../src/engine/events.js';
import { runTraining } from '../../src/engine/trainer.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import { optimizerNames } from '../../src/spec/optimizer-spec.js';
import { shorten } from '../support/examples.js';

const dir = fileURLToPath(new URL('../../examples/', import.meta.url));
const examples: [string, JobSpecInput][] = await Promise.all(
  (await readdir(dir))
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map(async (file) => [file, JSON.parse(await readFile(`${dir}${file}`, 'utf8')) as JobSpecInput] as [string, JobSpecInput]),
);

let backend: SelectedBackend;
beforeAll(async () => {
  // As a worker trains them: the OpenBLAS kernels where the addon is built (CI builds it), wasm otherwise.
  backend = await selectBackend('native').catch(() => selectBackend('wasm'));
});

describe('examples/', () => {
  it('has one example per optimizer', () => {
    for (const name of optimizerNames) expect(examples.map(([file]) => file)).toContain(`${name}.json`);
  });

  it.each(examples)('%s is a valid spec that trains (shortened here)', async (_file, example) => {
    const parsed = jobSpecSchema.safeParse(example);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    const short = jobSpecSchema.parse(shorten(example));
    const events: TrainingEvent[] = [];
    const result = await runTraining(resolveJobSpec(short), { emit: (event) => events.push(event) }, { backend });
    expect(Object.values(result.finalMetrics).every(Number.isFinite)).toBe(true);
    // The attention examples take over a minute on plain wasm with both cores busy twice over.
  }, 240_000);
});
