import { readdirSync, readFileSync } from 'node:fs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleDescriptions } from '../../src/api/routes/examples.js';
import { startHarness, type Harness } from '../support/harness.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('examples');
});
afterAll(async () => harness?.close());

describe('GET /v1/examples', () => {
  it('gives every example in examples/ its description from examples/README.md', async () => {
    const files = readdirSync('examples').filter((file) => file.endsWith('.json')).map((file) => file.replace(/\.json$/, ''));
    const described = exampleDescriptions(readFileSync('examples/README.md', 'utf8'));
    expect(files.filter((name) => !described.has(name)), 'examples without a line in examples/README.md').toEqual([]);
    const { body } = await request(harness.app.server).get('/v1/examples').expect(200);
    expect(body.data.map((example: { name: string }) => example.name)).toEqual(files.sort());
    for (const example of body.data as { name: string; description: string }[]) expect(example.description).toBe(described.get(example.name));
  });
});
