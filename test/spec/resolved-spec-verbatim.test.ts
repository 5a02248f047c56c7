import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { jobSpecSchema, resolveJobSpec, resolvedJobSpecSchema } from '../../src/spec/job-spec.js';

// The API writes a job's resolved spec unprojected (writtenVerbatim in src/api/schemas/job-schemas.ts):
// that is safe only while resolving makes nothing the resolved schema would drop or change.
const examples = readdirSync(new URL('../../examples/', import.meta.url)).filter((file) => file.endsWith('.json'));

describe('a resolved job spec', () => {
  it.each(examples)('of examples/%s is exactly what the resolved schema makes of it', (file) => {
    const spec = jobSpecSchema.parse(JSON.parse(readFileSync(new URL(`../../examples/${file}`, import.meta.url), 'utf8')));
    const resolved = JSON.parse(JSON.stringify(resolveJobSpec(spec, {}))) as unknown;
    expect(resolvedJobSpecSchema.parse(resolved)).toStrictEqual(resolved);
  });
});
