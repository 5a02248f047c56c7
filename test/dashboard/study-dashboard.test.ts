import type { Browser, Page } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectPageErrors, keepScreenshot, launchBrowser, signIn, skipBrowserTests } from '../support/browser.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyAshaStudy, tinyIrisSpec } from '../support/specs.js';
import { waitFor } from '../support/wait.js';

interface StudyBody {
  id: string;
  status: string;
  best: { trial: number; value: number; jobId: string } | null;
  finalJobId: string | null;
  trials: { number: number; jobStatus: string; results: { epoch: number; value: number }[] }[];
  compute: { trialEpochs: number; fullTrainingEpochs: number };
}

describe.skipIf(skipBrowserTests)('study pages in a real browser', () => {
  let harness: Harness;
  let browser: Browser;
  let page: Page;
  let auth: { authorization: string; key: string };
  let pageErrors: string[] = [];

  beforeAll(async () => {
    harness = await startHarness('study-dashboard', { TRAINYARD_BACKEND: 'wasm', AUTH_MODE: 'required', WORKER_CONCURRENCY: '2' });
    await harness.startWorker();
    harness.startScheduler();
    auth = await harness.apiKey('studies-browser');
    ({ browser, page } = await launchBrowser());
    pageErrors = collectPageErrors(page);
    await signIn(page, harness.baseUrl, auth.key);
  });
  afterAll(async () => {
    await browser?.close();
    await harness?.close();
  });

  const api = () => ({
    get: (path: string) => request(harness.app.server).get(path).set(auth),
    post: (path: string) => request(harness.app.server).post(path).set(auth),
  });
  const study = async (id: string) => (await api().get(`/v1/studies/${id}`)).body as StudyBody;
  const textOf = async (selector: string) => (await page.textContent(selector))?.trim() ?? '';
  const attribute = async (selector: string, name: string) => (await page.getAttribute(selector, name)) ?? '';
  const disabled = async () =>
    Object.fromEntries(await Promise.all(['pause', 'resume', 'cancel', 'train-best'].map(async (name) => [name, await page.isDisabled(`#${name}-button`)] as const)));

  let asha: StudyBody;

  it('lists a study beside the runs and keeps the row live until it ends', async () => {
    await page.goto(`${harness.baseUrl}/#/`);
    await page.click('header nav a[href="#/studies"]');
    await page.waitForSelector('#studies tbody', { state: 'attached' });
    const created = await api()
      .post('/v1/studies')
      .send(tinyAshaStudy({ name: 'asha in the browser', epochs: 4, maxTrials: 4, reductionFactor: 2, seed: 4 }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const row = `tr[data-study-row="${id}"]`;
    // No reload: the row appears and moves to succeeded on its own.
    await page.waitForSelector(row, { timeout: 15_000 });
    await page.waitForSelector(`${row} .status.succeeded`, { timeout: 40_000 });
    asha = await study(id);
    expect(asha.status).toBe('succeeded');
    await page.waitForFunction(([selector, trials]) => document.querySelector(`${selector} [data-col="trials"]`)?.textContent === String(trials), [row, asha.trials.length] as const);
    expect(await textOf(`${row} [data-col="algorithm"]`)).toBe('ASHA η=2, 1…4 epochs');
    expect(await textOf(`${row} [data-col="objective"]`)).toBe('val_accuracy ↑');
    expect(await textOf(`${row} [data-col="best"]`)).toMatch(new RegExp(`^[\\d.]+ \\(trial ${asha.best!.trial}\\)$`));
    expect(await textOf(`${row} [data-col="compute"]`)).toBe(
      `${asha.compute.trialEpochs} of ${asha.compute.fullTrainingEpochs} trial-epochs (${Math.round((100 * asha.compute.trialEpochs) / asha.compute.fullTrainingEpochs)} %)`,
    );
    await page.click(`${row} a`);
    await page.waitForURL(new RegExp(`#/studies/${id}$`));
    await page.waitForSelector('#trials tbody tr');
  });

  it('shows one curve per trial with the rungs marked, parallel coordinates, and a table that sorts', async () => {
    const trials = asha.trials.length;
    expect(trials).toBe(4);
    expect(await textOf('#study-status')).toBe('succeeded');
    expect(await textOf('[data-fact="Best"]')).toMatch(new RegExp(`trial ${asha.best!.trial} at epoch \\d`));
    expect(await attribute('[data-fact="Best"] a', 'href')).toBe(`#/jobs/${asha.best!.jobId}`);
    expect(await textOf('[data-fact="Compute"]')).toContain(`${asha.compute.trialEpochs} of ${asha.compute.fullTrainingEpochs} trial-epochs`);

    // The objective per epoch: a series per trial, epochs 1 to 4, dashed markers at the rungs 1 and 2.
    const chart = '[data-chart="val_accuracy per epoch"]';
    expect(Number(await attribute(chart, 'data-series'))).toBe(trials);
    expect(await page.$$eval(`${chart} .u-series`, (rows) => rows.length - 1)).toBe(trials);
    expect(await attribute(chart, 'data-markers')).toBe('1,2');
    expect(Number(await attribute(chart, 'data-points'))).toBe(4);

    // Parallel coordinates: an axis per parameter (log for the rate, one tick per choice) and the objective; a line per trial.
    const axes = await page.$$eval('#study-pcoords .pc-axis', (nodes) => nodes.map((node) => `${node.getAttribute('data-axis')}:${node.getAttribute('data-kind')}`));
    // (The space's paths in the order the API returns them; the objective last.)
    expect(axes.slice(0, -1).sort()).toEqual(['batchSize:category', 'learningRate:log']);
    expect(axes.at(-1)).toBe('val_accuracy:linear');
    expect(await page.$$eval('#study-pcoords polyline[data-line]', (lines) => lines.length)).toBe(trials);
    // Every trial has a result, so every line crosses all three axes, in a colour of its own score.
    expect(await page.$$eval('#study-pcoords polyline[data-line]', (lines) => lines.every((line) => line.getAttribute('points')!.split(' ').length === 3))).toBe(true);

    // Sorted by the objective, best first; clicked again, worst first.
    const objectives = async () => page.$$eval('#trials tbody td[data-col="objective"]', (cells) => cells.map((cell) => parseFloat(cell.textContent ?? '')));
    await page.click('th[data-sort="objective"]');
    const descending = await objectives();
    expect(descending).toHaveLength(trials);
    expect(descending).toEqual([...descending].sort((a, b) => b - a));
    await page.click('th[data-sort="objective"]');
    const ascending = await objectives();
    expect(ascending).toEqual([...ascending].sort((a, b) => a - b));
    await page.click('th[data-sort="param:learningRate"]');
    const rates = await page.$$eval('#trials tbody td[data-col="param:learningRate"]', (cells) => cells.map((cell) => Number(cell.textContent)));
    expect(rates).toEqual([...rates].sort((a, b) => a - b));
    // Each row links to its trial's job page.
    const links = await page.$$eval('#trials tbody td[data-col="job"] a', (anchors) => anchors.map((a) => a.getAttribute('href')));
    expect(links).toHaveLength(trials);
    expect(links.every((href) => /^#\/jobs\/[0-9a-f-]{36}$/.test(href ?? ''))).toBe(true);

    await page.click('th[data-sort="objective"]');
    await keepScreenshot(page, 'study');

    // Ended with a best trial: only train-best is offered, and it makes the job.
    expect(await disabled()).toEqual({ pause: true, resume: true, cancel: true, 'train-best': false });
    await page.click('#train-best-button');
    await page.waitForSelector('#train-best-job');
    const job = (await attribute('#train-best-job', 'href')).split('/').pop();
    await waitFor('the study to name the job', async () => (await study(asha.id)).finalJobId === job);
    await page.waitForSelector('[data-fact="Best trained"] a');
  });

  it('offers the actions the status allows, pauses from the page, and follows changes made elsewhere live', async () => {
    const created = await api()
      .post('/v1/studies')
      .send({
        name: 'to pause',
        base: tinyIrisSpec({ epochs: 200, batchSize: 4, logEveryBatches: 0 }),
        space: { learningRate: { type: 'choice', values: [0.01, 0.05] } },
        objective: { metric: 'val_loss' },
        algorithm: { type: 'grid' },
        maxConcurrentTrials: 1,
      });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    await page.goto(`${harness.baseUrl}/#/studies/${id}`);
    // The previous test's study page stays until this one renders: wait for this study's.
    await page.waitForFunction((study) => document.querySelector(`#study-status[data-study="${study}"]`)?.textContent === 'running', id);
    expect(await disabled()).toEqual({ pause: false, resume: true, cancel: false, 'train-best': true });

    // The trial's job starts and its curve grows while the page is open: both live.
    await page.waitForSelector('#trials tbody td[data-col="job-status"] .status.running', { timeout: 20_000 });
    await page.waitForFunction(() => Number(document.querySelector('[data-chart="val_loss per epoch"]')?.getAttribute('data-points')) >= 2, undefined, { timeout: 20_000 });

    await page.click('#pause-button');
    await page.waitForFunction(() => document.getElementById('study-status')?.textContent === 'paused');
    expect(await disabled()).toEqual({ pause: true, resume: false, cancel: false, 'train-best': true });
    // The disabled button is what the API says too.
    expect((await api().post(`/v1/studies/${id}/pause`)).status).toBe(409);
    await page.waitForSelector('#trials tbody td[data-col="job-status"] .status.paused', { timeout: 20_000 });

    // Resumed elsewhere: the page hears it on the study's stream.
    expect((await api().post(`/v1/studies/${id}/resume`)).status).toBe(200);
    await page.waitForFunction(() => document.getElementById('study-status')?.textContent === 'running', undefined, { timeout: 10_000 });
    expect(await disabled()).toEqual({ pause: false, resume: true, cancel: false, 'train-best': true });

    await page.click('#cancel-button');
    await page.waitForFunction(() => document.getElementById('study-status')?.textContent === 'cancelled');
    expect(await disabled()).toEqual({ pause: true, resume: true, cancel: true, 'train-best': true });
    expect((await study(id)).status).toBe('cancelled');
    // After the study's stream closed, its trial's job settling still shows, through /v1/stream.
    await page.waitForSelector('#trials tbody td[data-col="job-status"] .status.cancelled', { timeout: 20_000 });
  });

  it('takes its study statuses and action rules from the API, and runs under its CSP', async () => {
    const { text } = await request(harness.app.server).get('/dashboard/contract.js').expect(200);
    expect(text).toContain('export const studyActionRules = {"pause":{"from":["running"],"needsBest":false}');
    expect(text).toContain('export const trialStates = ["training","waiting","stopped","completed","failed","cancelled"]');
    const source = (await Promise.all(['/dashboard/views/study.js', '/dashboard/views/studies.js'].map(async (path) => (await request(harness.app.server).get(path)).text))).join('\n');
    expect(source).not.toMatch(/'running', 'paused'|\['running'\]/);
    const root = await request(harness.app.server).get('/').expect(200);
    expect(root.headers['content-security-policy']).toContain("script-src 'self'");
    expect(root.text).not.toMatch(/<script>|<script(?![^>]*\bsrc=)[^>]*>/);
    expect(pageErrors).toEqual([]);
  });
});
