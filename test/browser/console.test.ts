/**
 * The operator page in a real browser (Debian's chromium, playwright-core) against real culm, real HAProxy
 * and the Marathon emulator: a rule set through the page's form routes through HAProxy; a refused rule shows
 * its short reason beside its field and changes nothing.
 */
import t, { type Test } from 'tap';
import type { Browser, Page } from 'playwright-core';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { emulatorWithTwoApps, startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, get, startBackend, type Backend } from '../helpers/net.js';
import { launchBrowser, pageFor } from '../helpers/browser.js';

let marathon: MarathonEmulator;
let culm: CulmInstance;
let browser: Browser;
let backends: Backend[] = [];

t.before(async () => {
  browser = await launchBrowser();
  ({ marathon, backends } = await emulatorWithTwoApps());
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
});
