import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe("the API's schemas", () => {
  // The OpenAPI document, the client and the dashboard's contract derive from them: they must load
  // where TF.js is not installed. TF.js's engine, once loaded, is a global (`_tfengine`).
  it('load without TF.js', () => {
    const probe = `
      for (const file of ['job-schemas', 'study-schemas']) await import('./src/api/schemas/' + file + '.ts');
      await import('./src/spec/job-spec.ts');
      await import('./src/spec/study-spec.ts');
      process.stdout.write(typeof globalThis._tfengine);`;
    const loaded = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 60_000 });
    expect(loaded).toBe('undefined');
  });
});
