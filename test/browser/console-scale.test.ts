/**
 * The operator page at 10,000 apps in a real browser: the page stays small (one page of rows), search,
 * filters, sort and paging reach every app. The targets (first load ≤ 300 KB and ≤ 1 s, a keystroke or a
 * filter answered ≤ 100 ms) are printed as measured; the size is asserted, the times only against 3× the
 * targets, a bound a loaded CI machine does not reach (speed belongs in the bench).
 */
import t, { type Test } from 'tap';
import type { Browser, Page } from 'playwright-core';
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
  // A few rules (path prefixes: the route map takes them without a validation), for the rule filters and sort.
  for (const id of ['/team3/app53', '/team1/app9001', '/team2/app202']) {
    const res = await culm.json(`/api/services${id}`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ acl: `path_beg -i /r${id.split('app')[1]}` }) });
    if (res.status !== 200) throw new Error(`PUT ${id}: ${res.status}`);
  }
});

/**
 * Times in the page, from `act` to the count line saying `until`, `TRIES` times (`undo` between them): the
 * best is the figure (the rest is other processes on the machine), all are printed. The page is let settle
 * first (its live stream connects and re-reads the page once).
 */
const TRIES = 3;
async function bestOf(t: Test, page: Page, what: string, act: string, until: string, undo: string): Promise<number> {
  await page.locator('#live[data-state=live]').waitFor({ timeout: 10_000 });
  await page.waitForTimeout(500);
  const all: number[] = [];
  for (let i = 0; i < TRIES; i++) {
    all.push(Number(await page.evaluate(timed(act, until))));
    if (i < TRIES - 1) await page.evaluate(timed(undo, `Apps 1–${APPS_PER_PAGE} of ${APPS}.`));
  }
  const best = Math.min(...all);
  t.comment(`${what} at ${APPS} apps: ${Math.round(best)} ms (best of ${all.map(Math.round).join(', ')} ms; target: 100 ms)`);
  return best;
}

/** Times, in the page, from `act` (page code) to the count line saying `until`. */
function timed(act: string, until: string): string {
  return `new Promise((resolve) => {
    const started = performance.now();
    new MutationObserver((_, observer) => {
      if (!document.getElementById('count').textContent.includes(${JSON.stringify(until)})) return;
      observer.disconnect();
      resolve(performance.now() - started);
    }).observe(document.querySelector('main'), { childList: true, subtree: true });
    ${act}
  })`;
}

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
  const loadMs = performance.now() - started;
  t.comment(`first load at ${APPS} apps: ${Math.round(loadMs)} ms, ${Math.round(bytes / 1024)} KB (targets: 1,000 ms, 300 KB)`);
  t.ok(loadMs <= 3000, `loaded within 3× the target: ${Math.round(loadMs)} ms`);
  t.equal(await page.locator('#apps tbody tr').count(), APPS_PER_PAGE);
  t.match(await page.textContent('#count'), `Apps 1–${APPS_PER_PAGE} of ${APPS}.`);
  await Promise.all([page.waitForResponse((r) => r.url().includes('offset=')), page.click('a.page:text("next")')]);
  await page.locator('#count', { hasText: `Apps ${APPS_PER_PAGE + 1}–${2 * APPS_PER_PAGE} of ${APPS}` }).waitFor({ timeout: 10_000 });
  t.pass('next page');
});

t.test('search by id and by ACL reaches any app, and says how many match', async (t) => {
  const page = await pageFor(t, browser);
  await page.goto(`${culm.api}/`);
  // From the input event to the rows shown (the page waits 30 ms for more keystrokes first).
  const type = (text: string): string => `const q = document.getElementById('q'); q.value = '${text}'; q.dispatchEvent(new Event('input'));`;
  const ms = await bestOf(t, page, 'a search keystroke', type('app9876'), 'app9876', type(''));
  t.ok(ms <= 300, `within 3× the target: ${Math.round(ms)} ms`);
  t.same(await page.locator('#apps tbody tr td:first-child').allTextContents(), ['/team26/app9876']);
  t.match(page.url(), /\?q=app9876$/, 'the search is in the URL (a link to it works)');
  await page.fill('#q', '/team7/');
  await page.locator('#count', { hasText: 'of 200 matching "/team7/"' }).waitFor({ timeout: 10_000 });
  t.equal(await page.locator('#apps tbody tr').count(), APPS_PER_PAGE, 'a page of the 200 matches');
  await page.fill('#q', 'no-such-app');
  await page.locator('#count', { hasText: 'No app matches' }).waitFor({ timeout: 10_000 });
  t.equal(await page.locator('#apps tbody tr').count(), 0);
});

t.test(`filters and sort at ${APPS} apps: the rows that fit, in order, timed from the click`, async (t) => {
  const page = await pageFor(t, browser);
  await page.goto(`${culm.api}/`);
  const click = "document.querySelector('#filters input[value=has-rule]').click();";
  const ms = await bestOf(t, page, 'a filter click', click, 'with a REST rule', click);
  t.ok(ms <= 300, `within 3× the target: ${Math.round(ms)} ms`);
  t.same(await page.locator('#apps tbody a.open').allTextContents(), ['/team1/app9001', '/team2/app202', '/team3/app53'], 'the three apps with a rule');
  // The server's share of it: the page's answer for that filter, fetched from here.
  const asked = performance.now();
  await (await fetch(`${culm.api}/?filter=has-rule`)).text();
  t.comment(`of which culm's answer: ${Math.round(performance.now() - asked)} ms`);
  t.match(await page.textContent('#count'), `Apps 1–3 of 3 with a REST rule (of ${APPS}).`);
  await page.uncheck('#filters input[value=has-rule]');
  await page.check('#filters input[value=default]');
  await page.locator('#count', { hasText: `of ${APPS - 3} with the default route` }).waitFor({ timeout: 10_000 });
  t.pass('the default route: every other app');
  await page.uncheck('#filters input[value=default]');
  await page.selectOption('#sort', 'rule');
  await page.locator('#apps tbody tr').first().locator('a.open', { hasText: '/team2/app202' }).waitFor({ timeout: 10_000 });
  t.same((await page.locator('#apps tbody a.open').allTextContents()).slice(0, 4), ['/team2/app202', '/team3/app53', '/team1/app9001', '/team0/app0'], 'rules first, by ACL as text (/r202, /r53, /r9001), then the defaults');
  t.match(page.url(), /\?sort=rule$/);
  await page.check('#filters input[value=no-serving]');
  await page.locator('#count', { hasText: `of ${APPS} with no serving task` }).waitFor({ timeout: 10_000 });
  t.pass('no app has a task here: all of them have no serving task');
});
