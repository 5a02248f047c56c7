import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectPageErrors, launchBrowser, signIn, skipBrowserTests } from '../support/browser.js';
import { startHarness, type Harness } from '../support/harness.js';
import { zip } from '../support/zip-writer.js';

describe.skipIf(skipBrowserTests)('data set pages in a real browser', () => {
  let harness: Harness;
  let browser: Browser;
  let page: Page;
  let auth: { authorization: string; key: string };
  let pageErrors: string[] = [];

  beforeAll(async () => {
    harness = await startHarness('dataset-dashboard', { AUTH_MODE: 'required' });
    auth = await harness.apiKey('datasets-browser');
    ({ browser, page } = await launchBrowser());
    // The grid is an image the page's Content-Security-Policy must allow.
    pageErrors = collectPageErrors(page);
    await signIn(page, harness.baseUrl, auth.key);
  });
  afterAll(async () => {
    await browser?.close();
    await harness?.close();
  });

  const post = (path: string, type: string, body: string | Buffer) => request(harness.app.server).post(path).set(auth).set('content-type', type).send(body);

  it('lists uploads and shows an image set with its class counts and sample grid, and a table and a text set with sample rows', async () => {
    const entries = [];
    for (const [cls, shade] of [['dark', 30], ['light', 220]] as const) {
      for (let i = 0; i < 3; i++) entries.push({ name: `train/${cls}/${i}.png`, data: await sharp(Buffer.alloc(16, shade + i), { raw: { width: 4, height: 4, channels: 1 } }).toColourspace('b-w').png().toBuffer() });
      entries.push({ name: `val/${cls}/0.png`, data: await sharp(Buffer.alloc(16, shade), { raw: { width: 4, height: 4, channels: 1 } }).toColourspace('b-w').png().toBuffer() });
    }
    const images = await post('/v1/datasets?name=shades', 'application/zip', zip(entries));
    expect(images.status).toBe(201);
    const table = await post('/v1/datasets?name=pairs', 'text/csv', 'x,y,label\n1,2,a\n3,4,b\n5,6,a\n');
    expect(table.status).toBe(201);

    await page.goto(`${harness.baseUrl}/#/`);
    await page.click('header nav a[href="#/datasets"]');
    await page.waitForSelector(`[data-dataset-row="${images.body.id}"]`);
    expect(await page.textContent(`[data-dataset-row="${images.body.id}"]`)).toContain('4 × 4 × 1');

    await page.click(`[data-dataset-row="${images.body.id}"] a`);
    await page.waitForFunction(() => (document.getElementById('dataset-grid') as HTMLImageElement | null)?.naturalWidth);
    // A row per class, 8 images of 4 px and their gaps, scaled 8 times.
    expect(await page.evaluate(() => (document.getElementById('dataset-grid') as HTMLImageElement).naturalHeight)).toBe((2 * 5 + 1) * 8);
    const counts = await page.$$eval('#dataset-classes tbody tr', (rows) => rows.map((row) => Array.from(row.querySelectorAll('td'), (cell) => cell.textContent)));
    expect(counts).toEqual([
      ['dark', '3', '1'],
      ['light', '3', '1'],
      ['all', '6', '2'],
    ]);

    await page.goto(`${harness.baseUrl}/#/datasets/${table.body.id}`);
    await page.waitForSelector('#dataset-rows tbody tr');
    expect(await page.$$eval('#dataset-rows thead th', (cells) => cells.map((cell) => cell.textContent))).toEqual(['x', 'y', 'label']);
    expect(await page.$$eval('#dataset-rows tbody tr', (rows) => rows.length)).toBe(3);

    const text = await post('/v1/datasets?name=notes&text=note', 'text/csv', 'note,label\n"fine, <b>really</b>",a\nawful,b\n');
    await page.goto(`${harness.baseUrl}/#/datasets/${text.body.id}`);
    // Only the hash changes: wait for this set's page, not the table's still showing.
    await page.waitForFunction((id) => document.querySelector('main')?.textContent?.includes(id), text.body.id);
    await page.waitForSelector('#dataset-rows tbody tr');
    expect(await page.textContent('main')).toContain('text (note)');
    expect(await page.textContent('main')).toContain('mean 2.5, median 4, 95 % ≤ 4, longest 4');
    // A text is shown as text, never as markup.
    expect(await page.$$eval('#dataset-rows tbody td', (cells) => cells.map((cell) => cell.textContent))).toContain('fine, <b>really</b>');
    expect(pageErrors).toEqual([]);
  });
});
