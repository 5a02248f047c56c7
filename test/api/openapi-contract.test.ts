import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openapiPath } from '../../src/api/openapi-document.js';
import { apiTypesPath, renderApiTypes } from '../../scripts/api-types.js';
import { ContractCheck, type Exchange } from '../support/contract-check.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const redocly = path.join(path.dirname(require.resolve('@redocly/cli/package.json')), 'bin/cli.js');

type Document = {
  paths: Record<string, Record<string, { operationId?: string; security?: unknown[]; responses: Record<string, { $ref?: string; headers?: Record<string, unknown> }> }>>;
  components: { schemas: Record<string, { required?: string[]; properties?: Record<string, unknown> }> };
};
const committed = async () => JSON.parse(await readFile(openapiPath, 'utf8')) as Document;

describe('the OpenAPI document, checked by tools that know nothing of our zod schemas', () => {
  it('passes Redocly\'s linter (redocly.yaml: recommended-strict, rules turned off there say why)', async () => {
    // Offline: no telemetry, no update check.
    const { stdout } = await run(process.execPath, [redocly, 'lint', 'openapi/openapi.json', '--format=json'], {
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      timeout: 60_000,
    });
    const report = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { totals: { errors: number; warnings: number; ignored: number }; problems: unknown[] };
    expect(report.problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it('gives each operation an operationId, documents 401/429/503 wherever a key is needed and marks public routes', async () => {
    const document = await committed();
    const operations = Object.entries(document.paths).flatMap(([route, item]) => Object.entries(item).map(([method, operation]) => ({ route, method, operation })));
    expect(new Set(operations.map(({ operation }) => operation.operationId)).size).toBe(operations.length);
    for (const { route, operation } of operations) {
      expect(operation.operationId, route).toMatch(/^[a-z][A-Za-z]+$/);
      const open = ['/healthz', '/readyz', '/metrics', '/docs', '/docs/json'].includes(route);
      expect(operation.security === undefined ? 'key' : operation.security.length === 0 ? 'public' : 'admin', route).toBe(open ? 'public' : route.startsWith('/v1/admin') ? 'admin' : 'key');
      if (!open) expect(Object.keys(operation.responses), route).toEqual(expect.arrayContaining(['400', '401', '429', '503']));
    }
    expect(document.paths['/v1/datasets']!.post!).toHaveProperty('requestBody.content.text/csv');
    expect(Object.keys(document.paths['/v1/jobs/{id}/model/{file}']!.get!.responses['200']!)).toContain('content');
  });

  it('is what openapi-typescript turns into src/client/api-types.ts (npm run openapi regenerates both)', async () => {
    expect(await readFile(apiTypesPath, 'utf8')).toBe(await renderApiTypes());
  });
});

describe('the response check every API test runs (test/support/contract-check.ts)', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness('contract');
  });
  afterAll(async () => harness?.close());

  const lastExchange = (route: string, status: number): Exchange => {
    const exchange = harness.contract.seen.findLast((seen) => seen.route === route && seen.status === status);
    if (!exchange) throw new Error(`no ${status} answer of ${route} was seen`);
    return exchange;
  };

  it('passes what the server sends today and fails a document that drifted from it', async () => {
    const created = await request(harness.app.server).post('/v1/jobs').send(tinyIrisSpec({ epochs: 1 }));
    expect(created.status).toBe(201);
    await request(harness.app.server).get('/v1/jobs/00000000-0000-7000-8000-000000000000').expect(404);
    await request(harness.app.server).get('/v1/jobs?limit=0').expect(400);
    const submitted = lastExchange('/v1/jobs', 201);
    const missing = lastExchange('/v1/jobs/:id', 404);
    const refused = lastExchange('/v1/jobs', 400);
    const today = new ContractCheck((await committed()) as never);
    expect([submitted, missing, refused].flatMap((exchange) => today.check(exchange))).toEqual([]);

    // A status the document forgot.
    const without404 = await committed();
    delete without404.paths['/v1/jobs/{id}']!.get!.responses['404'];
    expect(new ContractCheck(without404 as never).check(missing)).toEqual([expect.stringContaining('status 404 is not documented for getJob')]);

    // A field the server does not send (a submission answers the job with its advice: SubmittedJob).
    const extraField = await committed();
    extraField.components.schemas.SubmittedJob!.required!.push('owner');
    expect(new ContractCheck(extraField as never).check(submitted)).toEqual([expect.stringContaining("must have required property 'owner'")]);

    // A header the server sends that the document does not list.
    const withoutLocation = await committed();
    delete withoutLocation.paths['/v1/jobs']!.post!.responses['201']!.headers!.location;
    expect(new ContractCheck(withoutLocation as never).check(submitted)).toEqual([expect.stringContaining('sends location')]);

    // Problems documented as application/json rather than application/problem+json.
    const asJson = JSON.parse(JSON.stringify(await committed()).replaceAll('application/problem+json', 'application/json')) as Document;
    expect(new ContractCheck(asJson as never).check(refused)).toEqual([expect.stringContaining('content-type application/problem+json is not one of application/json')]);
  });
});
