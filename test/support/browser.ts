import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';

// Debian's chromium, installed by .ci/run. Outside CI a machine without it skips the browser tests;
// in CI its absence is a failure, not a skip.
export const chromiumPath = '/usr/bin/chromium';
export const haveChromium = existsSync(chromiumPath);
export const skipBrowserTests = !haveChromium && !process.env.CI;

/**
 * A headless Chromium with a page at the dashboards' size. launch() gives the browser a fresh
 * temporary profile (its own --user-data-dir); without the networking flags Chromium keeps dialling
 * out on this closed network.
 */
export async function launchBrowser(): Promise<{ browser: Browser; page: Page }> {
  expect(haveChromium, `${chromiumPath} is missing: apt-get install chromium`).toBe(true);
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { browser, page: await browser.newPage({ viewport: { width: 1400, height: 1000 } }) };
}

/** TRAINYARD_SCREENSHOTS=docs refreshes the pictures of each view that docs/dashboard.md shows. */
export async function keepScreenshot(page: Page, name: string): Promise<void> {
  const shot = await page.screenshot({ fullPage: false });
  expect(shot.byteLength).toBeGreaterThan(10_000);
  if (process.env.TRAINYARD_SCREENSHOTS) await page.screenshot({ path: `${process.env.TRAINYARD_SCREENSHOTS}/dashboard-${name}.png` });
}

/**
 * The page's script errors and Content-Security-Policy refusals (only console messages), collected
 * from now on: a dashboard test ends by expecting none.
 */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) errors.push(message.text());
  });
  return errors;
}

/** The key as the dashboard's key form leaves it: in this browser's localStorage (sent as a bearer header, and as access_token on websockets). */
export async function signIn(page: Page, baseUrl: string, key: string): Promise<void> {
  await page.goto(`${baseUrl}/#/key`);
  await page.evaluate((stored) => localStorage.setItem('trainyard.apiKey', stored), key);
}
