/** The operator page's search and paging, rendered on the server: one page of rows, the search escaped. */
import t from 'tap';
import { renderUi } from '../../src/http/ui.js';
import { APPS_PER_PAGE, appQuery } from '../../src/http/ui-apps.js';
import type { CulmCore } from '../../src/pipeline/types.js';
import type { Rule } from '../../src/core/model.js';
import { app, healthChecks, stateOf, task, tasks } from '../helpers/builders.js';

function coreWith(n: number, rules = new Map<string, Rule>()): CulmCore {
  const state = stateOf(...Array.from({ length: n }, (_, i) => app(`/grp${i % 3}/app${i}`, tasks(task(20000 + i)))));
  return {
    state: () => state,
    rules: () => rules,
    readiness: () => ({ ready: true, checks: {} }),
    history: () => [],
  } as unknown as CulmCore;
}

const rows = (html: string): number => (html.match(/<tr(?: class="opened")?><td><a class="open"/g) ?? []).length;

t.test('one page of rows, with a link to the next', async (t) => {
  const html = renderUi(coreWith(250), 'v', 'n');
  t.equal(rows(html), APPS_PER_PAGE);
  t.match(html, `Apps 1–${APPS_PER_PAGE} of 250.`);
  t.match(html, `href="/?offset=${APPS_PER_PAGE}"`);
  t.notMatch(html, '← previous');
  const last = renderUi(coreWith(250), 'v', 'n', appQuery(new URLSearchParams('offset=200')));
  t.equal(rows(last), 50);
  t.match(last, 'Apps 201–250 of 250.');
  t.notMatch(last, 'next →');
});

t.test('search in ids, ACLs and backends, case-insensitive', async (t) => {
  const rules = new Map<string, Rule>([['/grp1/app7', { id: '/grp1/app7', acl: 'hdr(host) -i Shop.example', config: {} }]]);
  const core = coreWith(30, rules);
  const byId = renderUi(core, 'v', 'n', appQuery(new URLSearchParams('q=APP2')));
  t.equal(rows(byId), 11, 'app2 and app20–app29');
  t.match(byId, 'of 11 matching "APP2" (of 30)');
  const byAcl = renderUi(core, 'v', 'n', appQuery(new URLSearchParams('q=shop.EXAMPLE')));
  t.equal(rows(byAcl), 1);
  t.match(byAcl, '/grp1/app7');
  t.match(renderUi(core, 'v', 'n', appQuery(new URLSearchParams('q=nothing'))), 'No app matches "nothing" (of 30).');
});

t.test('the search text is escaped wherever it is shown', async (t) => {
  const html = renderUi(coreWith(3), 'v', 'n', appQuery(new URLSearchParams({ q: '"><script>alert(1)</script>' })));
  t.notMatch(html, '<script>alert');
  t.match(html, 'value="&#34;&#62;&#60;script&#62;');
  t.equal((html.match(/<script/g) ?? []).length, 1, 'one script, our own');
});

t.test('appQuery: bad offsets are 0, the search is trimmed and bounded', async (t) => {
  t.same(appQuery(new URLSearchParams('offset=-5&q=%20x%20')), { q: 'x', offset: 0, filters: [], sort: 'id', open: '' });
  t.same(appQuery(new URLSearchParams('offset=abc')), { q: '', offset: 0, filters: [], sort: 'id', open: '' });
  t.equal(appQuery(new URLSearchParams({ q: 'y'.repeat(500) })).q.length, 200);
  t.equal(appQuery(new URLSearchParams('open=grp/web')).open, '/grp/web', 'an open id without its slash');
  t.same(appQuery(new URLSearchParams('sort=nope&filter=x,unhealthy')), { q: '', offset: 0, filters: ['unhealthy'], sort: 'id', open: '' });
});

t.test('filters (all must hold), sort and search by task host; the view stays in every link', async (t) => {
  const state = stateOf(
    app('/a', healthChecks(), tasks(task(1, { healthy: true }), task(2, { healthy: false }))),
    app('/b', tasks(task(3, { host: 'node-7.example' }))),
    app('/c'),
    app('/d', tasks(task(4)), tasks(task(5))),
  );
  const rules = new Map<string, Rule>([['/c', { id: '/c', acl: 'hdr(host) -i c.example', config: {} }], ['/b', { id: '/b', acl: 'path_beg -i /bb', config: {} }]]);
  const core = {
    state: () => state, rules: () => rules, readiness: () => ({ ready: true, checks: {} }),
    history: () => [{ kind: 'rule', at: 1, result: 'refused', action: 'set', id: '/d', who: 'x', from: 'y', before: null, after: null, status: 400, reasons: [], durationMs: 1, error: { code: 'E_RULE_INVALID', message: 'no' } }],
    leftOut: () => ({ rules: new Set(['/b']), apps: new Set() }),
  } as unknown as CulmCore;
  const ids = (search: string): string[] => [...renderUi(core, 'v', 'n', appQuery(new URLSearchParams(search))).matchAll(/data-key="open:([^"]+)"/g)].map((m) => m[1]);
  t.same(ids(''), ['/a', '/b', '/c', '/d']);
  t.same(ids('filter=unhealthy'), ['/a']);
  t.same(ids('filter=no-serving'), ['/c'], 'an app with one serving task is out');
  t.same(ids('filter=has-rule'), ['/b', '/c']);
  t.same(ids('filter=default'), ['/a', '/d']);
  t.same(ids('filter=rejected'), ['/b', '/d'], 'left out by HAProxy, or its last write refused');
  t.same(ids('filter=has-rule&filter=rejected'), ['/b'], 'both must hold');
  t.same(ids('filter=has-rule,no-serving'), ['/c'], 'comma-separated too');
  t.same(ids('filter=nonsense'), ['/a', '/b', '/c', '/d'], 'an unknown filter is ignored');
  t.same(ids('sort=serving'), ['/c', '/a', '/b', '/d']);
  t.same(ids('sort=rule'), ['/c', '/b', '/a', '/d'], 'rules first, by ACL');
  t.same(ids('q=NODE-7'), ['/b'], 'by task host');
  const html = renderUi(core, 'v', 'n', appQuery(new URLSearchParams('filter=default&sort=rule&q=a')));
  t.match(html, 'value="default" checked');
  t.match(html, '<option value="rule" selected>');
  t.match(html, 'href="/?q=a&#38;filter=default&#38;sort=rule&#38;open=%2Fa"', 'a row opens its detail and keeps the view');
  t.match(renderUi(core, 'v', 'n', appQuery(new URLSearchParams('filter=unhealthy&filter=has-rule'))), 'No app with a task not healthy, a REST rule (of 4).');
});

t.test('the open app\'s detail under its row, or a message, escaped', async (t) => {
  const core = coreWith(3);
  const id = '/grp0/app0';
  const detail = { id, notServed: '', leftOut: false, rule: null, ruleLeftOut: false, routes: [], tasks: [], backends: [{ name: '::grp0::app0-cluster', servers: [], config: ['backend ::grp0::app0-cluster', '    server <x>'] }], haproxy: { ok: true, detail: '' } };
  const html = renderUi(core, 'v', 'n', appQuery(new URLSearchParams({ open: id })), detail);
  t.match(html, /data-key="open:\/grp0\/app0"[^>]*>|aria-expanded="true"/);
  t.match(html, `<tr class="opened"><td><a class="open" href="/" aria-expanded="true" aria-controls="detail"`);
  t.match(html, /<tr class="detail" id="detail"><td colspan="5"><div class="fit"><section/);
  t.match(html, 'server &#60;x&#62;', 'the config escaped');
  t.notMatch(html, '<x>');
  const missing = renderUi(core, 'v', 'n', appQuery(new URLSearchParams({ open: '/none' })), 'no app /none <b>');
  t.match(missing, '<div class="detail" id="detail"><p class="bad">no app /none &#60;b&#62;');
});
