import type { Browser, Page } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepScreenshot, launchBrowser, skipBrowserTests } from '../support/browser.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

describe.skipIf(skipBrowserTests)('dashboard in a real browser', () => {
  let harness: Harness;
  let browser: Browser;
  let page: Page;
  let auth: { authorization: string; key: string };

  beforeAll(async () => {
    harness = await startHarness('dashboard', { TRAINYARD_BACKEND: 'wasm', AUTH_MODE: 'required' });
    await harness.startWorker();
    auth = await harness.apiKey('browser');
    ({ browser, page } = await launchBrowser());
    page.on('pageerror', (error) => {
      throw error;
    });
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
  const settle = (ids: string[]) =>
    waitFor('the jobs to finish', async () => (await Promise.all(ids.map(async (id) => (await api().get(`/v1/jobs/${id}`)).body.status))).every((s) => s === 'succeeded'), 60_000, 100);

  it('asks for an API key when the server needs one, and keeps it', async () => {
    await page.goto(`${harness.baseUrl}/#/`);
    await page.waitForSelector('#api-key-input');
    expect(await page.textContent('.error-banner')).toContain('needs an API key');
    await page.fill('#api-key-input', 'ty_wrong');
    await page.click('#api-key-save');
    await page.waitForFunction(() => document.querySelector('.error-banner')?.textContent?.includes('unknown or has been revoked'));
    await page.fill('#api-key-input', auth.key);
    await page.click('#api-key-save');
    // The (still empty) runs table replaces the form.
    await page.waitForSelector('#runs tbody', { state: 'attached' });
    expect(await page.$('#api-key-input')).toBeNull();
    expect(await page.evaluate(() => localStorage.getItem('trainyard.apiKey'))).toBe(auth.key);
  });

  it('validates the spec as it is typed, with the API\'s own schema, then submits; the chart grows as epochs finish', async () => {
    await page.goto(`${harness.baseUrl}/#/submit`);
    await page.waitForSelector('#spec-editor');
    await page.waitForFunction(() => document.getElementById('spec-verdict')?.textContent?.startsWith('Valid'));

    // Typing, no click: the problems appear next to the editor, named as the server names them.
    await page.fill('#spec-editor', '{ "dataset": ');
    await page.waitForFunction(() => document.getElementById('spec-errors')?.textContent?.includes('not JSON'));
    await page.fill('#spec-editor', JSON.stringify(tinyIrisSpec({ model: { layers: [{ type: 'dense', units: 0 }] }, epochs: 0 }), null, 2));
    await page.waitForFunction(() => document.getElementById('spec-errors')?.textContent?.includes('model.layers[0].units'));
    const problems = await page.$$eval('#spec-errors li', (items) => items.map((item) => item.textContent));
    expect(problems.sort()).toEqual(['epochs: 0 is less than 1', 'model.layers[0].units: 0 is less than 1']);
    await keepScreenshot(page, 'submit');

    await page.fill('#spec-editor', JSON.stringify(tinyIrisSpec({ name: 'from the browser', epochs: 40, batchSize: 8, logEveryBatches: 5, testSplit: 0.2 })));
    await page.waitForFunction(() => document.getElementById('spec-verdict')?.textContent?.startsWith('Valid'));
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

    // Events read as sentences, never as raw JSON.
    const events = await page.$$eval('.events td:last-child', (cells) => cells.map((cell) => cell.textContent ?? ''));
    expect(events).toEqual(expect.arrayContaining([expect.stringMatching(/^Checkpoint at epoch \d+/), expect.stringMatching(/^Started on wasm/), expect.stringMatching(/^Succeeded after 40 epochs/)]));
    expect(events.filter((text) => text.includes('{"'))).toEqual([]);

    // Adam at 0.05 (tinyIrisSpec's rate) is 50× its default: the advice given at submission, with its field and code.
    expect(await page.$$eval('#job-advice li', (items) => items.map((item) => item.getAttribute('data-advice')))).toEqual(['adamRateFarFromDefault']);
    expect(await page.textContent('#job-advice')).toMatch(/learningRate: adam starts at 0\.05, 50× above its default 0\.001.*Kingma & Ba 2015/);
    expect(events).toEqual(expect.arrayContaining([expect.stringMatching(/^Advice on the spec \(1\): learningRate: /)]));

    // The summary: status, duration, speed, and per metric the final, best and test values.
    expect(await page.textContent('[data-fact="Status"]')).toBe('succeeded');
    expect(await page.textContent('[data-fact="Duration"]')).toMatch(/\d+ s|min/);
    expect(await page.textContent('[data-fact="Speed"]')).toMatch(/samples\/s/);
    const lossRow = await page.$$eval('#summary-metrics tr[data-metric="loss"] td', (cells) => cells.map((cell) => cell.textContent));
    expect(lossRow[1]).toMatch(/^\d/);
    expect(lossRow[3]).toMatch(/^\d/);
    await keepScreenshot(page, 'job');
  });

  it('writes axis labels people read: whole epochs, rates in scientific notation, no thousands separators', async () => {
    // A string: the test runner would rewrite an import() written in this file.
    const ticks = await page.evaluate(`import('/dashboard/format.js').then((format) => ({
      epochs: format.integerTicks(null, [0, 0.5, 1, 1.5, 2]),
      rates: format.scientificTicks(null, [0, 0.0005, 0.001]),
      large: format.valueTicks(null, [0, 5000, 10000, 15000]),
      small: format.valueTicks(null, [0.2, 0.4, 0.6]),
      quarters: format.valueTicks(null, [0.25, 0.5, 0.75, 1]),
    }))`);
    expect(ticks).toEqual({ epochs: ['0', '', '1', '', '2'], rates: ['0', '5.0e-4', '1.0e-3'], large: ['0', '5.0e+3', '1.0e+4', '1.5e+4'], small: ['0.2', '0.4', '0.6'], quarters: ['0.25', '0.50', '0.75', '1.00'] });
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

  it('offers only the actions the API accepts in the job\'s status, and cancels from the page', async () => {
    const { body } = await api().post('/v1/jobs').send(tinyIrisSpec({ name: 'to cancel', epochs: 500, batchSize: 8 }));
    await page.goto(`${harness.baseUrl}/#/jobs/${body.id}`);
    await page.waitForFunction(() => document.getElementById('job-status')?.textContent === 'running', undefined, { timeout: 30_000 });
    expect(await page.isDisabled('#resume-button')).toBe(true);
    expect(await page.isDisabled('#pause-button')).toBe(false);
    await page.waitForSelector('[data-fact="Time left"]', { timeout: 30_000 });
    await page.click('#cancel-button');
    await page.waitForFunction(() => document.getElementById('job-status')?.textContent === 'cancelled', undefined, { timeout: 15_000 });
    expect((await api().get(`/v1/jobs/${body.id}`)).body.status).toBe('cancelled');
    expect(await page.isDisabled('#cancel-button')).toBe(true);
  });

  it('compares runs of one name with distinct labels and colours, on any metric, and lists the spec fields that differ', async () => {
    const ids: string[] = [];
    for (const learningRate of [0.05, 0.01]) ids.push((await api().post('/v1/jobs').send(tinyIrisSpec({ name: 'same name', learningRate, epochs: 5 }))).body.id);
    await settle(ids);
    await page.goto(`${harness.baseUrl}/#/`);
    for (const id of ids) await page.check(`input[data-job="${id}"]`);
    await page.click('#compare');
    await page.waitForSelector('#spec-diff');
    const fields = await page.$$eval('#spec-diff tr[data-field]', (rows) => rows.map((row) => row.getAttribute('data-field')));
    expect(fields).toEqual(['learningRate']);
    expect(await points('val_loss per epoch')).toBe(5);
    const legend = await page.$$eval('[data-chart="val_loss per epoch"] .u-series', (rows) =>
      rows.slice(1).map((row) => ({ label: row.querySelector('.u-label')?.textContent, colour: (row.querySelector('.u-marker') as HTMLElement | null)?.style.borderColor })),
    );
    expect(legend).toHaveLength(2);
    expect(new Set(legend.map((entry) => entry.label)).size).toBe(2);
    expect(new Set(legend.map((entry) => entry.colour)).size).toBe(2);
    expect(legend[0]!.label).toMatch(/^same name · [0-9a-f-]{8,}$/);

    // Any metric, not only the losses.
    await page.selectOption('[data-metric-picker="0"]', 'accuracy');
    await page.waitForSelector('[data-chart="accuracy per epoch"]');
    expect(await points('accuracy per epoch')).toBe(5);
    await keepScreenshot(page, 'compare');
  });

  it('shows the runs table after a reload: last epoch, final and best metrics, test scores, speed; sorts and filters', async () => {
    const { body: fast } = await api().post('/v1/jobs').send(tinyIrisSpec({ name: 'table fast', learningRate: 0.05, epochs: 4, testSplit: 0.2 }));
    const { body: slow } = await api().post('/v1/jobs').send(tinyIrisSpec({ name: 'table slow', learningRate: 0.001, epochs: 4, testSplit: 0.2 }));
    await settle([fast.id, slow.id]);
    await page.goto(`${harness.baseUrl}/#/`);
    await page.reload();
    const row = `tr[data-job-row="${fast.id}"]`;
    await page.waitForSelector(row);
    expect(await page.textContent(`${row} [data-col="epoch"]`)).toBe('4/4');
    for (const column of ['final:val_loss', 'best:val_loss', 'final:val_accuracy', 'test:test_accuracy', 'test:test_loss', 'speed', 'duration']) {
      expect(await page.textContent(`${row} [data-col="${column}"]`), column).toMatch(/^\d/);
    }
    expect(await page.textContent(`${row} [data-col="backend"]`)).toBe('wasm');
    expect(await page.textContent(`${row} [data-col="lr"]`)).toBe('5.0e-2');

    // Sorted by the best validation loss, lowest first; then filtered by text.
    await page.click('th[data-sort="best:val_loss"]');
    const order = await page.$$eval('#runs tbody tr', (rows) => rows.map((r) => r.getAttribute('data-job-row')));
    const losses = await Promise.all(order.map(async (id) => Number((await page.textContent(`tr[data-job-row="${id}"] [data-col="best:val_loss"]`)) || Infinity)));
    expect(losses).toEqual([...losses].sort((a, b) => a - b));
    await keepScreenshot(page, 'runs');
    await page.fill('#run-filter', 'table slow');
    await page.waitForFunction(() => document.querySelectorAll('#runs tbody tr').length === 1);
    expect(await page.getAttribute('#runs tbody tr', 'data-job-row')).toBe(slow.id);
  });

  it('keeps the runs table live', async () => {
    await page.goto(`${harness.baseUrl}/#/`);
    await page.reload();
    await page.waitForSelector('#runs tbody', { state: 'attached' });
    const { body } = await api().post('/v1/jobs').send(tinyIrisSpec({ name: 'appears live', epochs: 3 }));
    await page.waitForSelector(`tr[data-job-row="${body.id}"] .status.succeeded`, { timeout: 30_000 });
    await page.waitForFunction((id) => document.querySelector(`tr[data-job-row="${id}"] [data-col="epoch"]`)?.textContent === '3/3', body.id);
  });

  it('takes its statuses and action rules from the API, not from a copy', async () => {
    const { text } = await request(harness.app.server).get('/dashboard/contract.js').expect(200);
    expect(text).toContain('export const actionSources = {"cancel":["queued","paused","running","pausing","cancelling"]');
    const source = (await Promise.all(['/dashboard/views/runs.js', '/dashboard/views/job.js'].map(async (path) => (await request(harness.app.server).get(path)).text))).join('\n');
    expect(source).not.toMatch(/'queued', 'running'/);
  });
});
