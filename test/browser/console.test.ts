/**
 * The operator page in a real browser (Debian's chromium, playwright-core) against real culm, real HAProxy
 * and the Marathon emulator: a rule set through the page's form routes through HAProxy; a refused rule shows
 * its short reason beside its field and changes nothing; an app's detail shows HAProxy's live view of each
 * task's server, and follows it (MAINT set on HAProxy's socket, a health check failing in Marathon) without a
 * reload.
 */
import t, { type Test } from 'tap';
import type { Browser, Page } from 'playwright-core';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, get, startBackend, type Backend } from '../helpers/net.js';
import { launchBrowser, pageFor } from '../helpers/browser.js';
import { runtimeCommands } from '../../src/haproxy/runtime-api.js';

let marathon: MarathonEmulator;
let culm: CulmInstance;
let browser: Browser;
const backends: Backend[] = [];
let checkedTask: string;

t.before(async () => {
  browser = await launchBrowser();
  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  for (let i = 0; i < 3; i++) backends.push(await startBackend());
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backends[0].port });
  marathon.addApp({ id: '/grp/api' });
  marathon.addTask('/grp/api', { port: backends[1].port });
  // Health-checked in Marathon, and so by HAProxy too (`check`): its detail has both views.
  marathon.addApp({ id: '/hc', healthChecks: [{ protocol: 'HTTP', path: '/health' }] });
  checkedTask = marathon.addTask('/hc', { port: backends[2].port, healthy: true });
  // Routed by its labels, with long host names: the widest route in the list (the 700 px layout).
  marathon.addApp({ id: '/lb', labels: { HAPROXY_0_VHOST: 'a-long-virtual-host-name.shop.example.com,another-long-name.shop.example.org' } });
  culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse' } });
  await culm.waitReady();
});

t.teardown(async () => {
  await browser?.close();
  await culm?.destroy();
  await marathon?.stop();
  await Promise.all(backends.map((b) => b.close()));
});

const rowForm = (id: string): string => `form.rule[data-id="${id}"]`;

/** Sets the rule through the app's row and waits for the reason shown beside its field. */
async function refusedReason(t: Test, id: string, acl: string): Promise<{ page: Page; text: string }> {
  const page = await pageFor(t, browser);
  await page.goto(`${culm.api}/`);
  const form = rowForm(id);
  await page.fill(`${form} input[name=acl]`, acl);
  await page.click(`${form} button:text("Set")`);
  const why = page.locator(`${form} .why`);
  await why.filter({ hasText: /\S/ }).waitFor({ timeout: 10_000 });
  return { page, text: (await why.textContent()) ?? '' };
}

t.test('a rule set through the page routes through HAProxy', async (t) => {
  const page = await pageFor(t, browser);
  await page.goto(`${culm.api}/`);
  t.equal(await page.title(), 'culm');
  t.match(await page.textContent('#rule-help'), /path_beg -i \/shop.*HAProxy 2\.6: using ACLs/s, 'examples and HAProxy\'s ACL docs beside the forms');
  t.equal(await page.getAttribute('#rule-help a', 'href'), 'https://docs.haproxy.org/2.6/configuration.html#7');
  t.equal((await get(`${culm.frontend}/shop`)).status, 503, 'before: nothing routes /shop');
  await page.fill(`${rowForm('/web')} input[name=acl]`, 'path_beg -i /shop');
  await page.evaluate("document.body.setAttribute('data-not-reloaded', 'yes')");
  await page.click(`${rowForm('/web')} button:text("Set")`);
  await eventually('/shop reaches /web through HAProxy', async () => (await get(`${culm.frontend}/shop`)).body === String(backends[0].port));
  t.pass('routing follows');
  const row = page.locator('tr', { has: page.locator(rowForm('/web')) });
  await row.filter({ hasText: 'path_beg -i /shop' }).waitFor({ timeout: 10_000 });
  t.notMatch(await row.textContent(), /\(default\)/);
  await page.locator('#history tr', { hasText: 'rule /web set by anonymous' }).waitFor({ timeout: 10_000 });
  t.equal(await page.getAttribute('body', 'data-not-reloaded'), 'yes', 'the row and the history row shown without reloading the page');
});

t.test('a rule changed, then deleted, through the page: routing follows each time', async (t) => {
  const page = await pageFor(t, browser);
  await page.goto(`${culm.api}/`);
  await page.evaluate("document.body.setAttribute('data-not-reloaded', 'yes')");
  await page.fill(`${rowForm('/grp/api')} input[name=acl]`, 'path_beg -i /first');
  await page.click(`${rowForm('/grp/api')} button:text("Set")`);
  await eventually('/first reaches /grp/api', async () => (await get(`${culm.frontend}/first`)).body === String(backends[1].port));
  await page.locator(`${rowForm('/grp/api')} button.del`).waitFor({ timeout: 10_000 });
  await page.fill(`${rowForm('/grp/api')} input[name=acl]`, 'path_beg -i /second');
  await page.click(`${rowForm('/grp/api')} button:text("Set")`);
  await eventually('/second reaches /grp/api', async () => (await get(`${culm.frontend}/second`)).body === String(backends[1].port));
  await eventually('/first no longer routes', async () => (await get(`${culm.frontend}/first`)).status === 503);
  t.pass('a changed rule replaces the old route');
  page.once('dialog', (d) => void d.accept());
  await page.click(`${rowForm('/grp/api')} button.del`);
  await eventually('/second no longer routes', async () => (await get(`${culm.frontend}/second`)).status === 503);
  await eventually('/grp/api back on its default route', async () => (await get(`${culm.frontend}/grp/api`)).body === String(backends[1].port));
  const row = page.locator('tr', { has: page.locator(rowForm('/grp/api')) });
  await row.filter({ hasText: '(default)' }).waitFor({ timeout: 10_000 });
  t.equal(await page.locator(`${rowForm('/grp/api')} button.del`).count(), 0, 'no Delete button without a rule');
  await page.locator('#history tr', { hasText: 'rule /grp/api deleted' }).waitFor({ timeout: 10_000 });
  t.equal(await page.getAttribute('body', 'data-not-reloaded'), 'yes', 'all of it without reloading the page');
});

t.test('a rule HAProxy refuses: its short reason beside the field, nothing changed', async (t) => {
  const { page, text } = await refusedReason(t, '/grp/api', 'path_reg [a-');
  const form = rowForm('/grp/api');
  t.match(text, /regex '\[a-' is invalid/, `HAProxy's reason: ${text}`);
  t.notMatch(text, /\n/, 'one line');
  t.notMatch(text, /ALERT|\(\d{3,}\)|\/tmp\/|candidate|culm-it-/, 'no level, pid or temporary path');
  t.ok(text.length <= 200, `short: ${text.length} characters`);
  t.equal(await page.locator('#msg').textContent(), '', 'nothing at the top of the page');
  t.equal(await page.getAttribute(`${form} input[name=acl]`, 'aria-invalid'), 'true');
  const rules = await culm.json<Record<string, unknown>>('/api/services');
  t.notOk('/grp/api' in rules.body, 'the refused rule was not stored');
  t.equal((await get(`${culm.frontend}/grp/api`)).body, String(backends[1].port), 'the app still routes by its default ACL');
});

t.test('an empty ACL is refused beside the field (a 400), not stored', async (t) => {
  const { text } = await refusedReason(t, '/grp/api', '  ');
  t.match(text, /the ACL is empty/);
  const direct = await culm.json<{ error: { code: string } }>('/api/services/grp/api', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '{"acl":""}' });
  t.equal(direct.status, 400);
  t.equal(direct.body.error.code, 'E_RULE_INVALID');
  t.notOk('/grp/api' in (await culm.json<Record<string, unknown>>('/api/services')).body);
});

t.test('live: a task added in Marathon shows on the open page, which says it is live', async (t) => {
  const page = await pageFor(t, browser);
  await page.goto(`${culm.api}/`);
  await page.locator('#live[data-state=live]').waitFor({ timeout: 10_000 });
  t.equal(await page.textContent('#live'), 'live');
  const row = page.locator('tr', { has: page.locator(rowForm('/web')) });
  await row.filter({ hasText: '1 / 1' }).waitFor({ timeout: 10_000 });
  const extra = await startBackend();
  t.teardown(() => extra.close());
  marathon.addTask('/web', { port: extra.port });
  await row.filter({ hasText: '2 / 2' }).waitFor({ timeout: 10_000 });
  t.pass('the row counts the new task without a reload');
});

t.test('at 700 px the rule field stays inside the window', async (t) => {
  const page = await pageFor(t, browser, { width: 700, height: 800 });
  await page.goto(`${culm.api}/`);
  // The page re-reads itself once its live stream connects: measure the field that stays.
  await page.locator('#live[data-state=live]').waitFor({ timeout: 10_000 });
  // Found and measured in one step in the page: a re-read may swap the section between two steps.
  const field = `${rowForm('/web')} input[name=acl]`;
  const right = Number(await page.evaluate(`document.querySelector(${JSON.stringify(field)}).getBoundingClientRect().right`));
  t.ok(right > 0 && right <= 700, `the field ends at ${Math.round(right)} px`);
  // With a detail open too: its tables and config scroll inside it, the page does not get wider than the window.
  // The health-checked app: its config's server lines are the longest.
  await page.goto(`${culm.api}/?open=${encodeURIComponent('/hc')}`);
  await page.locator('#detail pre').waitFor({ timeout: 10_000 });
  const widths = await page.evaluate(`(() => { const list = document.querySelector('#apps .wide');
    return [document.documentElement.scrollWidth, document.querySelector(${JSON.stringify(field)}).getBoundingClientRect().right, list.scrollWidth, list.clientWidth]; })()`) as number[];
  t.ok(widths[0] <= 700, `the page is ${widths[0]} px wide with a detail open`);
  t.ok(widths[1] > 0 && widths[1] <= 700, `the field ends at ${Math.round(widths[1])} px with a detail open`);
  t.ok(widths[2] <= widths[3], `the list does not scroll sideways (its content ${widths[2]} px, its box ${widths[3]} px): the rule column is in view`);
});

/** The detail's HAProxy cell of the task on `port`: its status as the page shows it. */
const haproxyCell = (page: Page, port: number): ReturnType<Page['locator']> =>
  page.locator('#detail tr', { hasText: `127.0.0.1:${port}` }).locator('td.hap, td:nth-child(6)').first();

t.test('an app\'s detail, opened with the keyboard: its route\'s source, its task beside HAProxy\'s server, its backend', async (t) => {
  const page = await pageFor(t, browser);
  await page.goto(`${culm.api}/`);
  await page.locator('#live[data-state=live]').waitFor({ timeout: 10_000 });
  await page.evaluate("document.body.setAttribute('data-not-reloaded', 'yes')");
  await page.focus('a.open[data-key="open:/hc"]');
  await page.keyboard.press('Enter');
  const detail = page.locator('#detail');
  await detail.waitFor({ timeout: 10_000 });
  t.match(page.url(), /\?open=%2Fhc$/, 'the open app is in the URL (a link to it works)');
  t.equal(await page.getAttribute('a.open[data-key="open:/hc"]', 'aria-expanded'), 'true');
  t.equal(await page.evaluate('document.activeElement && document.activeElement.dataset.key'), 'open:/hc', 'focus stays on the toggle after the re-read');
  t.match(await detail.locator('table.routes').textContent(), /default ACL.*::hc-cluster.*path_beg -i \/hc/);
  const row = detail.locator('tr', { hasText: `127.0.0.1:${backends[2].port}` });
  t.match(await row.textContent(), /RUNNING.*healthy.*ready.*::hc-127\.0\.0\.1-/);
  await haproxyCell(page, backends[2].port).filter({ hasText: /^UP/ }).waitFor({ timeout: 20_000 });
  t.pass('HAProxy says UP (its own check passed)');
  t.match(await detail.locator('pre').textContent(), new RegExp(`^backend ::hc-cluster\n[^]*server ::hc-127\\.0\\.0\\.1-${backends[2].port} 127\\.0\\.0\\.1:${backends[2].port} check`), 'the backend as applied');
  const api = await culm.json<{ tasks: Array<{ haproxy: { status: string } | null }> }>('/api/apps/hc');
  t.match(api.body.tasks[0].haproxy?.status, /^UP/, 'GET /api/apps/{id} says the same');
  t.equal(await page.getAttribute('body', 'data-not-reloaded'), 'yes');
});

t.test('the open detail follows HAProxy (MAINT on its socket) and Marathon (health failing: no server) without a reload', async (t) => {
  const page = await pageFor(t, browser);
  await page.goto(`${culm.api}/?open=${encodeURIComponent('/hc')}`);
  await page.locator('#live[data-state=live]').waitFor({ timeout: 10_000 });
  await page.evaluate("document.body.setAttribute('data-not-reloaded', 'yes')");
  const port = backends[2].port;
  await haproxyCell(page, port).filter({ hasText: /^UP/ }).waitFor({ timeout: 20_000 });
  const server = `::hc-cluster/::hc-127.0.0.1-${port}`;
  const socket = `${culm.outputPath}.sock`;
  t.same(await runtimeCommands(socket, [`set server ${server} state maint`]), [''], 'HAProxy takes the server out (an operator, on its socket)');
  await haproxyCell(page, port).filter({ hasText: /^MAINT/ }).waitFor({ timeout: 10_000 });
  t.pass('the detail says MAINT');
  t.same(await runtimeCommands(socket, [`set server ${server} state ready`]), ['']);
  await haproxyCell(page, port).filter({ hasText: /^UP/ }).waitFor({ timeout: 20_000 });
  marathon.setTaskHealth(checkedTask, false);
  const row = page.locator('#detail tr', { hasText: `127.0.0.1:${port}` });
  await row.filter({ hasText: 'unhealthy' }).filter({ hasText: 'not a server' }).waitFor({ timeout: 10_000 });
  t.pass('Marathon says unhealthy; HAProxy no longer has the server');
  await page.locator('#detail pre', { hasNotText: `${port} check` }).waitFor({ timeout: 10_000 });
  t.pass('the applied backend has no server line for it any more');
  const appRow = page.locator('tr', { has: page.locator(rowForm('/hc')) });
  await appRow.filter({ hasText: '0 / 1' }).waitFor({ timeout: 10_000 });
  t.equal(await page.getAttribute('body', 'data-not-reloaded'), 'yes', 'all without reloading the page');
  marathon.setTaskHealth(checkedTask, true);
  await haproxyCell(page, port).filter({ hasText: /^UP|^DOWN/ }).waitFor({ timeout: 20_000 });
  t.pass('healthy again: a server again');
});

t.test('filters and sort: the list narrows as they are ticked, and says with what', async (t) => {
  const page = await pageFor(t, browser);
  await page.goto(`${culm.api}/`);
  await page.check('#filters input[value=has-rule]');
  await page.locator('#count', { hasText: 'with a REST rule' }).waitFor({ timeout: 10_000 });
  const shown = await page.locator('#apps tbody a.open').allTextContents();
  t.same(shown, ['/web'], 'only the app with a rule (set by the first test)');
  t.match(page.url(), /\?filter=has-rule$/);
  await page.uncheck('#filters input[value=has-rule]');
  await page.selectOption('#sort', 'rule');
  await page.locator('#count:not(:has-text("with"))').waitFor({ timeout: 10_000 });
  await page.locator('#apps tbody tr').first().locator('a.open', { hasText: '/web' }).waitFor({ timeout: 10_000 });
  t.pass('sorted by rule: the app with a rule first');
  await page.fill('#q', '127.0.0.1');
  await page.locator('#count', { hasText: 'matching "127.0.0.1"' }).waitFor({ timeout: 10_000 });
  t.equal(await page.locator('#apps tbody a.open').count(), 3, 'found by task host');
});
