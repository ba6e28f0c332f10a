/** The operator page's search and paging, rendered on the server: one page of rows, the search escaped. */
import t from 'tap';
import { APPS_PER_PAGE, appQuery, renderUi } from '../../src/http/ui.js';
import type { CulmCore } from '../../src/pipeline/types.js';
import type { Rule } from '../../src/core/model.js';
import { app, stateOf, task, tasks } from '../helpers/builders.js';

function coreWith(n: number, rules = new Map<string, Rule>()): CulmCore {
  const state = stateOf(...Array.from({ length: n }, (_, i) => app(`/grp${i % 3}/app${i}`, tasks(task(20000 + i)))));
  return {
    state: () => state,
    rules: () => rules,
    readiness: () => ({ ready: true, checks: {} }),
    history: () => [],
  } as unknown as CulmCore;
}

const rows = (html: string): number => (html.match(/<tr><td><code>/g) ?? []).length;

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
  t.same(appQuery(new URLSearchParams('offset=-5&q=%20x%20')), { q: 'x', offset: 0 });
  t.same(appQuery(new URLSearchParams('offset=abc')), { q: '', offset: 0 });
  t.equal(appQuery(new URLSearchParams({ q: 'y'.repeat(500) })).q.length, 200);
});
