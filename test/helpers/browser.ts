/**
 * A real browser for the console's tests: Debian's `chromium` (installed by .ci/setup, never downloaded at
 * install time) driven by playwright-core through `executablePath`. A missing chromium fails the test with
 * the command that installs it. Each test that fails leaves a screenshot, its path printed.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { requireBinary } from './processes.js';

/** CULM_CHROMIUM names another browser binary; the default is Debian's. */
export function chromiumPath(): string {
  const path = process.env.CULM_CHROMIUM ?? 'chromium';
  return path.includes('/') ? path : requireBinary(path, 'apt-get install -y chromium (see .ci/setup)');
}

export async function launchBrowser(): Promise<Browser> {
  // As root (CI, containers) Chromium's sandbox cannot start; the pages are our own, on loopback.
  return chromium.launch({ executablePath: chromiumPath(), chromiumSandbox: false, args: ['--headless=new'] });
}

/** A page of its own for one test (`options`: e.g. the browser's own login), with a screenshot on failure (under a temp dir, the path printed). */
export async function pageFor(t: Test, browser: Browser, viewport = { width: 1200, height: 900 }, options: BrowserContextOptions = {}): Promise<Page> {
  const context = await browser.newContext({ viewport, ...options });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  t.teardown(async () => {
    if (!t.passing()) {
      const file = join(mkdtempSync(join(tmpdir(), 'culm-browser-')), `${t.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch((err: unknown) => console.error(`screenshot failed: ${String(err)}`));
      console.error(`# screenshot of the failed test: ${file}${errors.length ? `\n# page errors: ${errors.join('; ')}` : ''}`);
    }
    await context.close();
  });
  return page;
}
