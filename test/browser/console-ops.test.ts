/**
 * The console's history and status pages in a real browser (Debian's chromium, playwright-core) against real
 * culm, real HAProxy and the Marathon emulator: a rule set on the apps page shows on the open history page
 * with its mode and diff, without a reload; the config download is the applied config; with write auth on,
 * the page asks for credentials, refuses a wrong token with a message, sets the rule with the right login and
 * the history names the user; with reads closed, the history's diff, the applied config and its download are
 * fetched with the page's credentials (the browser itself has none for them).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Browser, Page } from 'playwright-core';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { emulatorWithTwoApps, startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, freePort, get, type Backend } from '../helpers/net.js';
import { launchBrowser, pageFor } from '../helpers/browser.js';
import { hashPassword } from '../../src/http/passwords.js';

let marathon: MarathonEmulator;
let browser: Browser;
let backends: Backend[] = [];
const culms: CulmInstance[] = [];

t.before(async () => {
  browser = await launchBrowser();
  ({ marathon, backends } = await emulatorWithTwoApps());
});

t.teardown(async () => {
  await browser?.close();
  await Promise.all(culms.map((c) => c.destroy()));
  await marathon?.stop();
  await Promise.all(backends.map((b) => b.close()));
});

async function culmWith(env: Record<string, string> = {}): Promise<CulmInstance> {
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse', ...env } });
  culms.push(culm);
  await culm.waitReady();
  return culm;
}

const rowForm = (id: string): string => `form.rule[data-id="${id}"]`;

async function setOnAppsPage(page: Page, api: string, id: string, acl: string): Promise<void> {
  await page.goto(`${api}/`);
  await page.fill(`${rowForm(id)} input[name=acl]`, acl);
  await page.click(`${rowForm(id)} button:text("Set")`);
}

t.test('history: a rule set on the apps page shows on the open history page with its mode and diff', async (t) => {
  const culm = await culmWith();
  const history = await pageFor(t, browser);
  await history.goto(`${culm.api}/ui/history`);
  t.equal(await history.title(), 'culm: History: applies and rule changes');
  await history.locator('#live[data-state=live]').waitFor({ timeout: 10_000 });
  await history.evaluate("document.body.setAttribute('data-not-reloaded', 'yes')");
  const applies = await history.locator('#history tr.apply').count();

  const apps = await pageFor(t, browser);
  await setOnAppsPage(apps, culm.api, '/web', 'path_beg -i /shop');
  await eventually('/shop reaches /web through HAProxy', async () => (await get(`${culm.frontend}/shop`)).body === String(backends[0].port));

  await history.locator('#history tr.rule', { hasText: 'rule /web set by anonymous' }).waitFor({ timeout: 10_000 });
  await eventually('a new apply row', async () => (await history.locator('#history tr.apply').count()) > applies);
  const newest = history.locator('#history tr.apply').first();
  const mode = (await newest.locator('td.mode').textContent()) ?? '';
  t.match(mode, /^(runtime \(map\)|reload)$/, `the mode is shown: ${mode}`);
  t.match(await newest.textContent(), /rule \/web|\/web/, 'its reason names the app');
  t.match(await newest.locator('.hash').getAttribute('title'), /^[0-9a-f]{64}$/, 'its config hash');
  // The newest apply's diff: the first on the page (newest first; rule rows have none).
  const details = history.locator('#history tr.diff details[data-diff]').first();
  await details.locator('summary').click();
  const diff = details.locator('pre.diff');
  await diff.filter({ hasText: '/shop' }).waitFor({ timeout: 10_000 });
  t.match(await diff.textContent(), /^\+.*\/shop/m, 'the diff adds the rule\'s line');
  t.equal(await history.getAttribute('body', 'data-not-reloaded'), 'yes', 'shown without reloading the page');

  const refused = await culm.json('/api/services/grp/api', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '{"acl":"path_reg [a-"}' });
  t.equal(refused.status, 400);
  const row = history.locator('#history tr.rule', { hasText: 'rule /grp/api set refused (400)' });
  await row.waitFor({ timeout: 10_000 });
  t.match(await row.textContent(), /E_RULE_INVALID: HAProxy refuses this rule: regex '\[a-' is invalid/, 'a rule HAProxy refused is in the history, with its reason');
  t.equal(await history.getAttribute('body', 'data-not-reloaded'), 'yes', 'still the same page');
});

t.test('at 700 px the history page, an open diff included, does not scroll sideways', async (t) => {
  const page = await pageFor(t, browser, { width: 700, height: 800 });
  await page.goto(`${culms[0].api}/ui/history`);
  const details = page.locator('#history tr.diff details[data-diff]').first();
  await details.locator('summary').click();
  await details.locator('pre.diff').filter({ hasText: '---' }).waitFor({ timeout: 10_000 });
  const width = Number(await page.evaluate('document.documentElement.scrollWidth'));
  t.ok(width <= 700, `the page is ${width} px wide`);
});

t.test('the applied config downloads as haproxy.cfg, the same text as /api/config', async (t) => {
  const culm = culms[0];
  const page = await pageFor(t, browser);
  await page.goto(`${culm.api}/ui/history`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  t.equal(download.suggestedFilename(), 'haproxy.cfg');
  const file = await download.path();
  const res = await fetch(`${culm.api}/api/config`);
  t.equal(readFileSync(file, 'utf8'), await res.text(), 'the downloaded file is the applied config');
  t.match(readFileSync(file, 'utf8'), /^\s*frontend /m);
});

t.test('the status page: readiness detail and the metrics summary', async (t) => {
  const culm = culms[0];
  const page = await pageFor(t, browser);
  await page.goto(`${culm.api}/ui/cluster`);
  const readiness = await page.locator('#readiness').textContent();
  t.match(readiness, /ready/);
  const ready = (await culm.json<{ checks: Record<string, unknown> }>('/readyz')).body;
  for (const name of Object.keys(ready.checks)) t.match(readiness, name, `check ${name} shown`);
  const summary = (await culm.json<{ reloads: { count: number } }>('/api/metrics/summary')).body;
  t.ok(summary.reloads.count >= 1, 'at least the first reload counted');
  t.match(await page.locator('#metrics').textContent(), new RegExp(`Reloads${summary.reloads.count}, mean`));
});

t.test('auth on: the page asks, a wrong token is refused with a message, the right login sets the rule, the history names the user', async (t) => {
  const usersFile = join(tmpdir(), `culm-console-users-${process.pid}-${await freePort()}`);
  writeFileSync(usersFile, `ops:${await hashPassword('correct horse')}\n`, { mode: 0o600 });
  const culm = await culmWith({ CULM_API_TOKEN: 'tok-5a1c9e0f7b3d', CULM_API_USERS_FILE: usersFile });
  const page = await pageFor(t, browser);
  await setOnAppsPage(page, culm.api, '/grp/api', 'path_beg -i /secure');
  const dialog = page.locator('dialog.login');
  await dialog.waitFor({ timeout: 10_000 });
  t.match(await dialog.textContent(), /API token, or a user and password/, 'the page asks for what the 401 offers');
  await dialog.locator('input[name=token]').fill('not-the-token');
  await dialog.locator('button:text("Sign in")').click();
  const why = page.locator(`${rowForm('/grp/api')} .why`);
  await why.filter({ hasText: /wrong token/ }).waitFor({ timeout: 10_000 });
  t.pass(`refused beside the field: ${await why.textContent()}`);
  t.notOk('/grp/api' in (await culm.json<Record<string, unknown>>('/api/services')).body, 'nothing stored');
  t.equal(await page.evaluate('document.cookie'), '', 'no cookie');

  await page.click(`${rowForm('/grp/api')} button:text("Set")`);
  await dialog.waitFor({ timeout: 10_000 });
  t.match(await dialog.locator('.err').textContent(), /wrong token/, 'the dialog says why it asks again');
  await dialog.locator('input[name=user]').fill('ops');
  await dialog.locator('input[name=password]').fill('correct horse');
  await dialog.locator('button:text("Sign in")').click();
  await eventually('/secure reaches /grp/api', async () => (await get(`${culm.frontend}/secure`)).body === String(backends[1].port));
  t.match(String(await page.evaluate("sessionStorage.getItem('culm-auth')")), /^Basic /, 'kept in sessionStorage');
  t.equal(await page.evaluate('document.cookie'), '', 'still no cookie');

  await page.goto(`${culm.api}/ui/history`);
  const refused = page.locator('#history tr.rule', { hasText: 'refused' }).first();
  t.match(await refused.locator('.who').textContent(), /^token|^anonymous/, 'the refused write is in the history');
  const changed = page.locator('#history tr.rule', { hasText: 'rule /grp/api set by ops' });
  await changed.waitFor({ timeout: 10_000 });
  t.match(await changed.locator('.who').textContent(), /^ops from /, 'the history names the user');
});

t.test('reads closed: the browser\'s login opens the page, the page asks once for its own calls and goes live', async (t) => {
  const usersFile = join(tmpdir(), `culm-console-readers-${process.pid}-${await freePort()}`);
  writeFileSync(usersFile, `ops:${await hashPassword('correct horse')}\n`, { mode: 0o600 });
  const culm = await culmWith({ CULM_API_USERS_FILE: usersFile, CULM_API_READ_AUTH: 'true' });
  const page = await pageFor(t, browser, undefined, { httpCredentials: { username: 'ops', password: 'correct horse' } });
  await page.goto(`${culm.api}/ui/history`);
  const dialog = page.locator('dialog.login');
  await dialog.waitFor({ timeout: 10_000 });
  t.match(await dialog.textContent(), /A user and password/, 'users only: no token field');
  t.equal(await dialog.locator('input[name=token]').count(), 0);
  await dialog.locator('input[name=user]').fill('ops');
  await dialog.locator('input[name=password]').fill('correct horse');
  await dialog.locator('button:text("Sign in")').click();
  await page.locator('#live[data-state=live]').waitFor({ timeout: 10_000 });
  t.pass('the live stream reads with the page\'s credentials');
});

t.test('reads closed: the history\'s diff, the applied config and its download carry the page\'s credentials', async (t) => {
  const usersFile = join(tmpdir(), `culm-console-links-${process.pid}-${await freePort()}`);
  writeFileSync(usersFile, `ops:${await hashPassword('correct horse')}\n`, { mode: 0o600 });
  const culm = await culmWith({ CULM_API_USERS_FILE: usersFile, CULM_API_READ_AUTH: 'true' });
  const login = `Basic ${Buffer.from('ops:correct horse').toString('base64')}`;
  const put = await culm.json('/api/services/web', { method: 'PUT', headers: { 'Content-Type': 'application/json', Authorization: login }, body: '{"acl":"path_beg -i /linked"}' });
  t.equal(put.status, 200, 'a rule stored: an apply with a diff');

  // The browser has no login of its own for culm: only the page's document is sent with one (as the browser's
  // own prompt would), so every other request is the page's, with what it keeps in sessionStorage.
  const page = await pageFor(t, browser);
  await page.route(`${culm.api}/ui/history`, (route) => route.continue({ headers: { ...route.request().headers(), authorization: login } }));
  await page.goto(`${culm.api}/ui/history`);
  const dialog = page.locator('dialog.login');
  await dialog.waitFor({ timeout: 10_000 });
  await dialog.locator('input[name=user]').fill('ops');
  await dialog.locator('input[name=password]').fill('correct horse');
  await dialog.locator('button:text("Sign in")').click();
  await page.locator('#live[data-state=live]').waitFor({ timeout: 10_000 });
  const plain = await page.evaluate("fetch('/api/config', { credentials: 'omit' }).then((r) => r.status)");
  t.equal(plain, 401, 'the config without the page\'s header: 401 (what a plain link got)');

  const details = page.locator('#history tr.diff details[data-diff]').first();
  await details.locator('summary').click();
  const diff = details.locator('pre.diff');
  await diff.filter({ hasText: '/linked' }).waitFor({ timeout: 10_000 });
  t.match(await diff.textContent(), /^\+.*\/linked/m, 'the diff opens');
  const config = (await culm.json<string>('/api/config', { headers: { Authorization: login } })).body;
  t.match(config, /^\s*frontend /m, 'the applied config (the rule is in its route map)');

  const [shown] = await Promise.all([page.context().waitForEvent('page'), page.click('#view-config')]);
  await shown.waitForLoadState();
  t.match(shown.url(), /^blob:/, 'view: the config opens in a tab of its own, from a Blob URL');
  t.equal(await shown.evaluate("document.querySelector('pre')?.textContent"), config, 'it is the applied config');
  await shown.close();

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  t.equal(download.suggestedFilename(), 'haproxy.cfg');
  t.equal(readFileSync(await download.path(), 'utf8'), config, 'the downloaded file is the applied config');
  t.equal(await page.locator('.link-error').count(), 0, 'no link said it failed');

  const [fromNav] = await Promise.all([page.context().waitForEvent('page'), page.click('nav a[href="/api/config"]')]);
  await fromNav.waitForLoadState();
  t.equal(await fromNav.evaluate("document.querySelector('pre')?.textContent"), config, 'the header\'s link to the applied config too');
});
