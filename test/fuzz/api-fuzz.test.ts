import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import type { JobSpecInput } from '../../src/spec/job-spec.js';
import { shorten } from '../support/examples.js';
import { startHarness, type Harness } from '../support/harness.js';
import { rawRequest, type RawResponse } from '../support/raw-http.js';
import { tinyAshaStudy, tinyIrisSpec } from '../support/specs.js';
import sharp from 'sharp';
import { tarOf } from '../support/tar-writer.js';
import { zip, type ZipEntry } from '../support/zip-writer.js';
import { archiveCase, garbageBody, mutation, mutate, rawQuery, rawSegment, table, toCsv, toRecords, weirdString } from './arbitraries.js';

/**
 * Seeded fuzzing of the API: job specs, uploads, query strings, headers and paths. Every answer
 * must be below 500; every 4xx a problem+json body, and a 400, 413, 415 or 422 must name the
 * field. `npm test` runs a reduced form; `npm run fuzz` runs FUZZ_RUNS cases per target
 * (FUZZ_SEED reproduces a run; a failure prints the seed and the shrunk case).
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const FIELD_STATUSES = new Set([400, 413, 415, 422, 431]);

let harness: Harness;
let auth: { authorization: string };
let jobId: string;
let studyId: string;
const statuses = new Map<string, Map<number, number>>();

beforeAll(async () => {
  // Auth on, so keys and their absence are fuzzed too; a small body limit keeps huge cases cheap.
  harness = await startHarness('fuzz', { AUTH_MODE: 'required', BODY_LIMIT_BYTES: '262144', UPLOAD_LIMIT_BYTES: '1048576' });
  auth = { authorization: (await harness.apiKey('fuzz')).authorization };
  const created = await rawRequest(harness.baseUrl, 'POST', '/v1/jobs', { ...auth, 'content-type': 'application/json' }, JSON.stringify(tinyIrisSpec()));
  jobId = (created.json() as { id: string }).id;
  const study = await rawRequest(harness.baseUrl, 'POST', '/v1/studies', { ...auth, 'content-type': 'application/json' }, JSON.stringify(tinyAshaStudy({ epochs: 3, maxTrials: 3, seed: 1 })));
  studyId = (study.json() as { id: string }).id;
});

afterAll(async () => {
  const rows = [...statuses].map(([target, counts]) => `${target.padEnd(8)} ${[...counts].sort(([x], [y]) => x - y).map(([status, n]) => `${status}×${n}`).join(' ')}`);
  console.log(`fuzz (seed ${SEED}, ${RUNS} runs per target):\n${rows.join('\n')}`);
  await harness?.close();
});

/** The contract every answer keeps, whatever was sent. */
function checkAnswer(target: string, response: RawResponse, sent: string): void {
  const counts = statuses.get(target) ?? new Map<number, number>();
  counts.set(response.status, (counts.get(response.status) ?? 0) + 1);
  statuses.set(target, counts);
  const context = `${target}: ${response.status} for ${sent.slice(0, 300)}\n${response.text.slice(0, 500)}`;
  expect(response.status, context).toBeLessThan(500);
  if (response.status < 400) return;
  expect(response.headers['content-type'], context).toContain('application/problem+json');
  const body = response.json() as { status: number; title: string; detail: string; errors?: { field: string; message: string }[] };
  expect(body.status, context).toBe(response.status);
  expect(body.title && body.detail, context).toBeTruthy();
  if (FIELD_STATUSES.has(response.status)) {
    expect(body.errors?.length, context).toBeGreaterThan(0);
    for (const error of body.errors!) expect(error.field, context).toBeTruthy();
  }
  expect(response.text.length, context).toBeLessThan(64 * 1024);
}

const options = { seed: SEED, numRuns: RUNS, endOnFailure: true };
const jsonHeaders = () => ({ ...auth, 'content-type': 'application/json' });

describe('fuzz', () => {
  it('job specs: mutated examples and garbage bodies', async () => {
    const examplesDir = new URL('../../examples/', import.meta.url);
    const examples = readdirSync(examplesDir).filter((file) => file.endsWith('.json')).map((file) => JSON.parse(readFileSync(new URL(file, examplesDir), 'utf8')) as JobSpecInput);
    const bases = [tinyIrisSpec(), ...examples.map((example) => shorten(example))];
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: bases.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.option(garbageBody, { freq: 6 }), async (base, mutations, garbage) => {
        const body = garbage ?? JSON.stringify(mutate(bases[base], mutations));
        checkAnswer('spec', await rawRequest(harness.baseUrl, 'POST', '/v1/jobs', jsonHeaders(), body), body);
      }),
      options,
    );
  });

  it('study specs: mutated ASHA, PBT and grid studies and garbage bodies', async () => {
    const asha = tinyAshaStudy({ epochs: 3, maxTrials: 3, seed: 1 });
    const bases = [
      asha,
      { ...asha, algorithm: { type: 'pbt', population: 4, perturbationInterval: 1 }, space: { ...asha.space, optimizer: { type: 'choice', values: ['sgd', { type: 'momentum', momentum: 0.9 }, 'adam'] } } },
      { ...asha, algorithm: { type: 'grid' }, space: { 'model.layers[0].units': { type: 'choice', values: [4, 8] } }, budget: { trialEpochs: 10, seconds: 60 } },
    ];
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: bases.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.option(garbageBody, { freq: 6 }), async (base, mutations, garbage) => {
        const body = garbage ?? JSON.stringify(mutate(bases[base], mutations));
        checkAnswer('study', await rawRequest(harness.baseUrl, 'POST', '/v1/studies', jsonHeaders(), body), body);
      }),
      options,
    );
  });

  it('uploads: CSV, JSON Lines and JSON with hostile headers, cells and query', async () => {
    await fc.assert(
      fc.asyncProperty(
        table,
        fc.constantFrom('csv', 'csv-quoted', 'jsonl', 'json', 'garbage'),
        fc.constantFrom('text/csv', 'application/x-ndjson', 'application/json', 'text/plain', 'application/octet-stream'),
        weirdString,
        fc.option(weirdString),
        // A text set now and then: a plausible table's b column holds integers and hostile strings.
        fc.option(fc.oneof(fc.constantFrom('a', 'b', 'label'), weirdString)),
        async ({ columns, rows }, format, contentType, name, label, text) => {
          const body =
            format === 'csv' || format === 'csv-quoted'
              ? toCsv(columns, rows, format === 'csv-quoted')
              : format === 'jsonl'
                ? toRecords(columns, rows).map((record) => JSON.stringify(record)).join('\n')
                : format === 'json'
                  ? JSON.stringify(toRecords(columns, rows))
                  : rows.flat().join('\u0000');
          const param = (key: string, value: string | null) => (value === null ? '' : `&${key}=${encodeURIComponent(value.replace(/[\ud800-\udfff]/g, '\ufffd'))}`);
          const query = `name=${encodeURIComponent(name.replace(/[\ud800-\udfff]/g, '\ufffd')) || 'x'}${param('label', label)}${param('text', text)}`;
          const response = await rawRequest(harness.baseUrl, 'POST', `/v1/datasets?${query}`, { ...auth, 'content-type': contentType }, body);
          checkAnswer('upload', response, `${contentType} ?${query} ${body.slice(0, 200)}`);
        },
      ),
      options,
    );
  });

  it('uploads: image archives with unsafe names, links, broken images, lying headers and damage', async () => {
    const images = await Promise.all(
      [8, 8, 10].map((side, i) => sharp(Buffer.alloc(side * side, 40 + i * 80), { raw: { width: side, height: side, channels: 1 } }).toColourspace('b-w').png().toBuffer()),
    );
    await fc.assert(
      fc.asyncProperty(archiveCase(images), fc.constantFrom('zip', 'tar', 'tar.gz'), async ({ entries, damage, size, channels }, kind) => {
        let body = kind === 'zip' ? zip(entries as ZipEntry[]) : await tarOf(entries as ZipEntry[], kind === 'tar.gz');
        if (damage && 'cut' in damage) body = body.subarray(0, damage.cut % (body.length + 1));
        if (damage && 'flip' in damage && body.length > 0) body = Buffer.from(body).fill(damage.to, damage.flip % body.length, (damage.flip % body.length) + 1);
        const query = `name=fuzz${size === null ? '' : `&size=${size}`}${channels === null ? '' : `&channels=${channels}`}`;
        const type = { zip: 'application/zip', tar: 'application/x-tar', 'tar.gz': 'application/gzip' }[kind];
        const response = await rawRequest(harness.baseUrl, 'POST', `/v1/datasets?${query}`, { ...auth, 'content-type': type }, body);
        checkAnswer('archive', response, `${kind} ?${query} ${JSON.stringify((entries as ZipEntry[]).map((e) => ({ ...e, data: e.data?.length })))} ${JSON.stringify(damage)}`);
        if (response.status < 300) {
          // What was stored can be shown: its detail and its sample grid, whatever its shape.
          const { id } = response.json() as { id: string };
          for (const path of [`/v1/datasets/${id}`, `/v1/datasets/${id}/samples.png`]) {
            const shown = await rawRequest(harness.baseUrl, 'GET', path, auth);
            expect(shown.status, `${path} after ?${query}`).toBe(200);
          }
        }
      }),
      options,
    );
    // Every refused upload took its staging folder with it.
    expect(readdirSync(harness.config.DATA_DIR).filter((entry) => entry.startsWith('.upload-'))).toEqual([]);
  });

  it('query strings on every listing', async () => {
    const targets = ['/v1/jobs', `/v1/jobs/${jobId}/events`, `/v1/jobs/${jobId}/metrics`, `/v1/jobs/${jobId}/checkpoints`, '/v1/datasets', '/v1/workers', '/v1/examples', `/v1/jobs/${jobId}`, '/v1/studies', `/v1/studies/${studyId}/events`, `/v1/studies/${studyId}`];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...targets), rawQuery, async (target, query) => {
        const path = `${target}?${query}`;
        checkAnswer('query', await rawRequest(harness.baseUrl, 'GET', path, auth), path);
      }),
      options,
    );
  });

  it('headers: keys, content types, idempotency keys and request ids', async () => {
    const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 300 });
    await fc.assert(
      fc.asyncProperty(
        fc.option(fc.oneof(printable, fc.constantFrom(auth.authorization, 'Bearer', 'Bearer ty_', 'Basic x', `Bearer ${'a'.repeat(4000)}`))),
        fc.option(fc.oneof(printable, fc.constantFrom('application/json', 'application/json; charset=latin1', 'text/csv', 'multipart/form-data', 'application/json;;;'))),
        fc.option(printable),
        fc.option(printable),
        async (authorization, contentType, idempotencyKey, requestId) => {
          const headers: Record<string, string> = {};
          if (authorization !== null) headers.authorization = authorization;
          if (contentType !== null) headers['content-type'] = contentType;
          if (idempotencyKey !== null) headers['idempotency-key'] = idempotencyKey;
          if (requestId !== null) headers['x-request-id'] = requestId;
          const body = JSON.stringify(tinyIrisSpec());
          checkAnswer('header', await rawRequest(harness.baseUrl, 'POST', '/v1/jobs', headers, body), JSON.stringify(headers));
        },
      ),
      options,
    );
  });

  it('paths and methods a scanner would try', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'), fc.array(rawSegment, { minLength: 1, maxLength: 6 }), fc.boolean(), async (method, segments, withKey) => {
        const path = `/${segments.join('/')}`.slice(0, 6000);
        const body = method === 'GET' || method === 'DELETE' || method === 'OPTIONS' ? undefined : '{}';
        const headers = { ...(withKey ? auth : {}), ...(body ? { 'content-type': 'application/json' } : {}) };
        checkAnswer('path', await rawRequest(harness.baseUrl, method, path, headers, body), `${method} ${path}`);
      }),
      options,
    );
  });

  it('the API still answers after all of it', async () => {
    expect((await rawRequest(harness.baseUrl, 'GET', '/readyz')).status).toBe(200);
    expect((await rawRequest(harness.baseUrl, 'GET', `/v1/jobs/${jobId}`, auth)).status).toBe(200);
  });
});
