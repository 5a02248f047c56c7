import { describe, expect, it } from 'vitest';
import type { DatasetShape } from '../../src/spec/dataset-spec.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import { estimateMemory } from '../../src/spec/memory-estimate.js';
import { resourceRefusal } from '../../src/spec/resource-limits.js';

const GIB = 2 ** 30;
const spec = (extra: Partial<JobSpecInput> = {}) =>
  resolveJobSpec(
    jobSpecSchema.parse({
      dataset: { name: 'upload', id: '01900000-0000-7000-8000-000000000024' },
      model: { layers: [{ type: 'dense', units: 64, activation: 'relu' }, { type: 'dense', units: 10 }] },
      batchSize: 64,
      ...extra,
    } as JobSpecInput),
  );
/** An upload of `rows` rows × 256 features, streamed as a training process above 512 MiB would. */
const upload = (rows: number, streamed: boolean): DatasetShape => ({
  rows,
  featureSize: 256,
  classes: 10,
  ...(streamed ? { streamed: { featureBytes: rows * 256 * 4, inMemoryBytes: 512 * 2 ** 20 } } : {}),
});
const limits = { memoryBytes: 2 * GIB, threads: 4 };

describe('a streamed upload against the limits', () => {
  it('costs its row order, not its features: 16× the rows is far less than 16× the estimate', () => {
    const small = estimateMemory(spec(), upload(1_000_000, true), { threads: 0 });
    const large = estimateMemory(spec(), upload(16_000_000, true), { threads: 0 });
    expect(large.parts.dataset - small.parts.dataset).toBe(15_000_000 * 4);
    expect(large.parts.labels).toBeLessThan(16_000_000 * 4 * 3);
    // Loaded, the same 16 GiB of features would be refused; streamed it fits a 2 GiB process.
    expect(resourceRefusal(spec(), upload(16_000_000, false), limits)?.field).toBeDefined();
    expect(resourceRefusal(spec(), upload(16_000_000, true), limits)).toBeNull();
  });

  it('refuses what needs the whole training set in memory, naming the field', () => {
    const distributed = resourceRefusal(spec({ distributed: { strategy: 'sync', workers: 2 } }), upload(1_000_000, true), limits);
    expect(distributed).toMatchObject({ field: 'distributed', extensions: { featureBytes: 1_024_000_000, inMemoryBytes: 512 * 2 ** 20 } });
    expect(distributed!.message).toMatch(/streamed from disk.*drop distributed, or raise TRAINING_IN_MEMORY_BYTES/);
    expect(resourceRefusal(spec({ distributed: { strategy: 'sync', workers: 2 } }), upload(1_000, false), limits)).toBeNull();
  });
});
