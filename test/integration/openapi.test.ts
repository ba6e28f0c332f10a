/**
 * Real answers from a running culm (real HAProxy, the Marathon emulator) against the schemas of
 * `GET /api/openapi.json`: every documented route is called, successes and errors alike.
 */
import t, { type Test } from 'tap';
import type { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { culmWithWebApp, type CulmInstance } from '../helpers/culm.js';
import { answerSchema, checkSchema } from '../helpers/schema-check.js';

type Doc = Record<string, unknown>;
let culm: CulmInstance;
let close: () => Promise<void>;
let doc: Doc;

t.before(async () => {
  let marathon: MarathonEmulator;
  ({ marathon, culm, close } = await culmWithWebApp());
  marathon.addApp({ id: '/grp/api', healthChecks: [{ protocol: 'HTTP', path: '/health' }] });
  marathon.addTask('/grp/api', { port: 1, healthy: true });
  const res = await fetch(`${culm.api}/api/openapi.json`);
  doc = (await res.json()) as Doc;
});

t.teardown(() => close?.());

/** Calls culm and checks the answer against the schema the document gives for its status and type. */
async function conforms(t: Test, method: string, route: string, url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const ac = new AbortController();
  const res = await fetch(`${culm.api}${url}`, { method, ...init, signal: ac.signal });
  const type = res.headers.get('content-type') ?? '';
  const schema = answerSchema(doc, method, route, res.status, type);
  if (typeof schema === 'string') {
    ac.abort();
    t.fail(schema);
    return { status: res.status, body: undefined };
  }
  if (type.startsWith('text/event-stream')) {
    ac.abort();
    t.pass(`${method} ${url}: ${res.status} ${type}`);
    return { status: res.status, body: undefined };
  }
  const text = await res.text();
  const body: unknown = type.startsWith('application/json') ? JSON.parse(text) : text;
  t.same(checkSchema(body, schema, doc), [], `${method} ${url}: ${res.status} ${type.split(';')[0]} fits the document`);
  return { status: res.status, body };
}

const jsonBody = (value: unknown): RequestInit => ({ headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(value) });

t.test('rule writes, successes and refusals', async (t) => {
  t.equal((await conforms(t, 'PUT', '/api/services/{id}', '/api/services/web', jsonBody({ acl: 'path_beg -i /web' }))).status, 200);
  t.equal((await conforms(t, 'POST', '/api/services', '/api/services', jsonBody({ id: '/grp/api', acl: 'hdr(host) -i api.example' }))).status, 200);
  t.equal((await conforms(t, 'PUT', '/api/services/{id}', '/api/services/web', jsonBody({ acl: 'nosuchfetch x' }))).status, 400);
  t.equal((await conforms(t, 'PUT', '/api/services/{id}', '/api/services/web', { headers: { 'Content-Type': 'application/json' }, body: '{' })).status, 400);
  t.equal((await conforms(t, 'POST', '/api/services', '/api/services', jsonBody({ acl: 'x' }))).status, 400);
  t.equal((await conforms(t, 'GET', '/api/services/{id}', '/api/services/nothing')).status, 404);
  t.equal((await conforms(t, 'DELETE', '/api/services/{id}', '/api/services/grp/api')).status, 200);
  t.equal((await conforms(t, 'DELETE', '/api/services/{id}', '/api/services/grp/api')).status, 404);
});

t.test('every documented GET, as a running culm answers it', async (t) => {
  const paths = doc.paths as Record<string, Record<string, unknown>>;
  const gets = Object.keys(paths).filter((p) => paths[p].get);
  for (const route of gets) {
    const url = route.replace('{id}', 'web');
    const { status } = await conforms(t, 'GET', route, url);
    t.ok(status < 500, `${url}: ${status}`);
  }
  t.ok(gets.length >= 14, `${gets.length} GET routes called`);
});

t.test('Marathon\'s callback, an unknown route and a wrong method answer as documented', async (t) => {
  // culm reads the event stream here: a callback is refused with the error shape.
  await conforms(t, 'POST', '/api/marathon/event_callback', '/api/marathon/event_callback', jsonBody({ eventType: 'x' }));
  const wrong = await fetch(`${culm.api}/api/history`, { method: 'DELETE' });
  const schema = answerSchema(doc, 'DELETE', '/api/services/{id}', wrong.status, wrong.headers.get('content-type') ?? '');
  t.equal(wrong.status, 405);
  t.same(checkSchema(await wrong.json(), schema as Doc, doc), [], '405 has the error shape');
  const none = await fetch(`${culm.api}/nothing`);
  t.equal(none.status, 404);
  t.same(checkSchema(await none.json(), answerSchema(doc, 'GET', '/api/state', 404, 'application/json') as Doc, doc), [], '404 has the error shape');
});
