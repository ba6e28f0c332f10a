/**
 * The operator page at 10,000 apps in a real browser: the page stays small (one page of rows), search and
 * paging reach every app. Sizes are asserted; times are printed only (speed belongs in the bench).
 */
import t from 'tap';
import type { Browser } from 'playwright-core';
import { performance } from 'node:perf_hooks';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { launchBrowser, pageFor } from '../helpers/browser.js';
import { APPS_PER_PAGE } from '../../src/http/ui-apps.js';

const APPS = 10_000;
let marathon: MarathonEmulator;
let culm: CulmInstance;
let browser: Browser;

t.before(async () => {
  browser = await launchBrowser();
  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500, recordEvents: false });
  // Apps without tasks: the page's size and search are the subject, not HAProxy's servers.
  for (let a = 0; a < APPS; a++) marathon.addApp({ id: `/team${a % 50}/app${a}` });
  culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse', CULM_LOG_LEVEL: 'info', CULM_MARATHON_TIMEOUT_MS: '20000' } });
  await culm.waitReady(60_000);
});

t.teardown(async () => {
  await browser?.close();
  await culm?.destroy();
  await marathon?.stop();
});

t.test(`${APPS} apps: one page of rows, under 300 KB`, async (t) => {
  const res = await fetch(`${culm.api}/`);
  const bytes = Buffer.byteLength(await res.text());
  t.ok(bytes <= 300 * 1024, `the page is ${Math.round(bytes / 1024)} KB`);
  const page = await pageFor(t, browser);
  const started = performance.now();
  await page.goto(`${culm.api}/`);
  t.comment(`load at ${APPS} apps: ${Math.round(performance.now() - started)} ms, ${Math.round(bytes / 1024)} KB`);
  t.equal(await page.locator('#apps tbody tr').count(), APPS_PER_PAGE);
  t.match(await page.textContent('#count'), `Apps 1–${APPS_PER_PAGE} of ${APPS}.`);
  await Promise.all([page.waitForResponse((r) => r.url().includes('offset=')), page.click('a.page:text("next")')]);
  await page.locator('#count', { hasText: `Apps ${APPS_PER_PAGE + 1}–${2 * APPS_PER_PAGE} of ${APPS}` }).waitFor({ timeout: 10_000 });
  t.pass('next page');
});

t.test('search by id and by ACL reaches any app, and says how many match', async (t) => {
  const page = await pageFor(t, browser);
  await page.goto(`${culm.api}/`);
  // Timed in the page, from the input event to the rows shown (the page waits 60 ms for more keystrokes first).
  const ms = await page.evaluate(`new Promise((resolve) => {
    const q = document.getElementById('q');
    const started = performance.now();
    new MutationObserver((_, observer) => {
      if (!document.getElementById('count').textContent.includes('app9876')) return;
      observer.disconnect();
      resolve(performance.now() - started);
    }).observe(document.querySelector('main'), { childList: true, subtree: true });
    q.value = 'app9876';
    q.dispatchEvent(new Event('input'));
  })`);
  t.comment(`search at ${APPS} apps: ${Math.round(Number(ms))} ms from the keystroke to the rows`);
  t.same(await page.locator('#apps tbody tr td:first-child').allTextContents(), ['/team26/app9876']);
  t.match(page.url(), /\?q=app9876$/, 'the search is in the URL (a link to it works)');
  await page.fill('#q', '/team7/');
  await page.locator('#count', { hasText: 'of 200 matching "/team7/"' }).waitFor({ timeout: 10_000 });
  t.equal(await page.locator('#apps tbody tr').count(), APPS_PER_PAGE, 'a page of the 200 matches');
  await page.fill('#q', 'no-such-app');
  await page.locator('#count', { hasText: 'No app matches' }).waitFor({ timeout: 10_000 });
  t.equal(await page.locator('#apps tbody tr').count(), 0);
});
