import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openapiPath, renderOpenapi } from '../../src/api/openapi-document.js';
import { startHarness, type Harness } from '../support/harness.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('openapi');
});
afterAll(async () => harness?.close());

describe('openapi/openapi.json', () => {
  it('is what the zod schemas generate today (run `npm run openapi` after changing a route)', async () => {
    const committed = await readFile(openapiPath, 'utf8');
    expect(committed).toBe(await renderOpenapi(harness.app));
  });

  it('describes the job spec from the same schema the API validates with', async () => {
    const document = JSON.parse(await readFile(openapiPath, 'utf8'));
    const schemas = document.components.schemas;
    expect(Object.keys(schemas)).toEqual(expect.arrayContaining(['JobSpec', 'ResolvedJobSpec', 'Job', 'Problem', 'LayerInput', 'DenseLayerInput', 'Layer', 'DenseLayer']));
    expect(schemas.JobSpec.additionalProperties).toBe(false);
    expect(document.paths['/v1/jobs'].post.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/JobSpec' });
    expect(document.paths['/v1/jobs'].post.responses['400']).toBeDefined();
    expect(document.paths['/v1/jobs/{id}/stream']).toBeDefined();
  });
});
