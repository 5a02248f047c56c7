import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

// Debian's chromium, installed by .ci/run. Outside CI a machine without it skips these tests;
// in CI its absence is a failure, not a skip.
const executablePath = '/usr/bin/chromium';
const haveChromium = existsSync(executablePath);

describe.skipIf(!haveChromium && !process.env.CI)('dashboard in a real browser', () => {
  let harness: Harness;
  let browser: Browser;
  let page: Page;
  let auth: { authorization: string; key: string };

  beforeAll(async () => {
    expect(haveChromium, `${executablePath} is missing: apt-get install chromium`).toBe(true);
    harness = await startHarness('dashboard', { TRAINYARD_BACKEND: 'wasm', AUTH_MODE: 'required' });
    await harness.startWorker();
    auth = await harness.apiKey('browser');
    // launch() gives the browser a fresh temporary profile (its own --user-data-dir). Without the
    // networking flags Chromium keeps dialling out on this closed network.
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  });
  afterAll(async () => {
    await browser?.close();
    await harness?.close();
  });

  const api = () => ({
    get: (path: string) => request(harness.app.server).get(path).set(auth),
    post: (path: string) => request(harness.app.server).post(path).set(auth),
  });
  const points = async (chart: string) => Number(await page.getAttribute(`[data-chart="${chart}"]`, 'data-points'));

  it('asks for an API key when the server needs one, and keeps it', async () => {
    await page.goto(`${harness.baseUrl}/#/`);
    await page.waitForSelector('#api-key-input');
    expect(await page.textContent('.error-banner')).toContain('needs an API key');
    await page.fill('#api-key-input', 'ty_wrong');
    await page.click('#api-key-save');
    await page.waitForFunction(() => document.querySelector('.error-banner')?.textContent?.includes('unknown or has been revoked'));
    await page.fill('#api-key-input', auth.key);
    await page.click('#api-key-save');
    // The (still empty) job list replaces the form.
    await page.waitForSelector('tbody', { state: 'attached' });
    expect(await page.$('#api-key-input')).toBeNull();
    expect(await page.evaluate(() => localStorage.getItem('trainyard.apiKey'))).toBe(auth.key);
  });

  it('submits a job from the page and its chart gains points as epochs finish', async () => {
    await page.goto(`${harness.baseUrl}/#/submit`);
    await page.waitForSelector('#spec-editor');

    // A bad spec first: the problems appear next to the editor.
    await page.fill('#spec-editor', JSON.stringify(tinyIrisSpec({ model: { layers: [{ type: 'dense', units: 0 }] } })));
    await page.click('#submit-button');
    await page.waitForSelector('#spec-errors li');
    expect(await page.textContent('#spec-errors')).toContain('model.layers[0].units');

    await page.fill('#spec-editor', JSON.stringify(tinyIrisSpec({ name: 'from the browser', epochs: 40, batchSize: 8, logEveryBatches: 5 })));
    await page.click('#submit-button');
    await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
    const id = page.url().split('/').pop()!;

    const seen: number[] = [];
    await waitFor('the chart to grow', async () => {
      seen.push(await points('Loss per epoch'));
      return seen.at(-1)! >= 40;
    }, 60_000, 100);
    // Points arrived while the page was open, not all at once at the end.
    expect(new Set(seen.filter((n) => n > 0 && n < 40)).size).toBeGreaterThan(1);
    await page.waitForFunction(() => document.getElementById('job-status')?.textContent === 'succeeded');
    expect((await api().get(`/v1/jobs/${id}`)).body.status).toBe('succeeded');
    expect(await page.textContent('.events')).toContain('checkpoint at epoch');

    const shot = await page.screenshot({ fullPage: false });
    expect(shot.byteLength).toBeGreaterThan(10_000);
    // TRAINYARD_SCREENSHOT=docs/dashboard.png refreshes the README's picture.
    if (process.env.TRAINYARD_SCREENSHOT) await page.screenshot({ path: process.env.TRAINYARD_SCREENSHOT });
  });

  it('charts mean absolute error instead of accuracy for a regression', async () => {
    const { body } = await api()
      .post('/v1/jobs')
      .send({ name: 'regression', dataset: { name: 'regression', rows: 200 }, model: { layers: [{ type: 'dense', units: 1 }] }, epochs: 3, learningRate: 0.05 });
    await page.goto(`${harness.baseUrl}/#/jobs/${body.id}`);
    await page.waitForSelector('[data-chart="Mean absolute error per epoch"]');
    expect(await page.$('[data-chart="Accuracy per epoch"]')).toBeNull();
    await page.waitForFunction(() => Number(document.querySelector('[data-chart="Mean absolute error per epoch"]')?.getAttribute('data-points')) > 0, undefined, { timeout: 30_000 });
  });

  it('cancels a job from its page', async () => {
    const { body } = await api().post('/v1/jobs').send(tinyIrisSpec({ name: 'to cancel', epochs: 500, batchSize: 8 }));
    await page.goto(`${harness.baseUrl}/#/jobs/${body.id}`);
    await page.waitForFunction(() => document.getElementById('job-status')?.textContent === 'running', undefined, { timeout: 30_000 });
    await page.click('#cancel-button');
    await page.waitForFunction(() => document.getElementById('job-status')?.textContent === 'cancelled', undefined, { timeout: 15_000 });
    expect((await api().get(`/v1/jobs/${body.id}`)).body.status).toBe('cancelled');
  });

  it('compares two jobs: overlaid curves and only the spec fields that differ', async () => {
    const ids: string[] = [];
    for (const learningRate of [0.05, 0.01]) {
      ids.push((await api().post('/v1/jobs').send(tinyIrisSpec({ name: `lr ${learningRate}`, learningRate, epochs: 5 }))).body.id);
    }
    await waitFor('both jobs', async () => {
      const statuses = await Promise.all(ids.map(async (id) => (await api().get(`/v1/jobs/${id}`)).body.status));
      return statuses.every((s) => s === 'succeeded');
    });
    await page.goto(`${harness.baseUrl}/#/`);
    for (const id of ids) await page.check(`input[data-job="${id}"]`);
    await page.click('#compare');
    await page.waitForSelector('#spec-diff');
    const fields = await page.$$eval('#spec-diff tr[data-field]', (rows) => rows.map((row) => row.getAttribute('data-field')));
    expect(fields).toEqual(expect.arrayContaining(['learningRate', 'name']));
    expect(fields).not.toContain('epochs');
    expect(await points('val_loss per epoch')).toBe(5);
  });

  it('keeps the job list live', async () => {
    await page.goto(`${harness.baseUrl}/#/`);
    await page.waitForSelector('tbody');
    const { body } = await api().post('/v1/jobs').send(tinyIrisSpec({ name: 'appears live', epochs: 3 }));
    await page.waitForSelector(`tr[data-job-row="${body.id}"] .status.succeeded`, { timeout: 30_000 });
  });
});
