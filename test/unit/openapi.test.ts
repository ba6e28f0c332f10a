/** The OpenAPI document against the router: every route served is documented, and nothing else is. */
import t from 'tap';
import { createHttpServer } from '../../src/http/server.js';
import { documentedOperations, openApiDocument } from '../../src/http/openapi.js';
import { silentLogger } from '../../src/log/logger.js';
import { PrometheusMetrics } from '../../src/metrics/metrics.js';
import type { CulmCore } from '../../src/pipeline/types.js';
import { answerSchema, checkSchema } from '../helpers/schema-check.js';

// Building the routes asks nothing of the core; a request would (none is made here).
const core = {} as CulmCore;

t.test('every route the router serves is in the document, and the other way round', async (t) => {
  const http = createHttpServer({ core, metrics: new PrometheusMetrics(), log: silentLogger(), version: '1.2.3', cluster: async () => ({}) });
  const served = http.routes.flatMap((r) => Object.keys(r.handlers).map((m) => `${m} ${r.name}`)).sort();
  t.ok(served.length >= 15, `${served.length} operations served`);
  t.same(documentedOperations().sort(), served);
});

t.test('the document is OpenAPI 3.1 with its version, every $ref resolves and every answer has the error shape', async (t) => {
  const doc = openApiDocument('1.2.3');
  t.equal(doc.openapi, '3.1.0');
  t.equal((doc.info as { version: string }).version, '1.2.3');
  const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
  t.ok(refs.length > 10);
  for (const r of new Set(refs)) t.doesNotThrow(() => checkSchema(null, JSON.parse(`{${r}}`) as Record<string, unknown>, doc), r);
  for (const op of documentedOperations()) {
    const [method, path] = op.split(' ');
    const schema = answerSchema(doc, method, path, 418, 'application/json');
    t.not(typeof schema, 'string', `${op}: an error answer is documented`);
    t.same(checkSchema({ error: { code: 'E_NOT_FOUND', message: 'x' } }, schema as Record<string, unknown>, doc), [], op);
  }
});

t.test('the schema checker refuses what does not fit', async (t) => {
  const doc = openApiDocument('1');
  const error = answerSchema(doc, 'GET', '/api/state', 500, 'application/json') as Record<string, unknown>;
  const cases: Array<{ desc: string; value: unknown; fails: RegExp }> = [
    { desc: 'no code', value: { error: { message: 'm' } }, fails: /lacks "code"/ },
    { desc: 'an unknown code', value: { error: { code: 'E_NOPE', message: 'm' } }, fails: /not one of/ },
    { desc: 'a number for a string', value: { error: { code: 'E_NOT_FOUND', message: 3 } }, fails: /is not string/ },
    { desc: 'not an object', value: [], fails: /is not object/ },
  ];
  for (const c of cases) t.match(checkSchema(c.value, error, doc).join('\n'), c.fails, c.desc);
  const history = answerSchema(doc, 'GET', '/api/history', 200, 'application/json') as Record<string, unknown>;
  t.match(checkSchema([{ kind: 'apply', at: 1, result: 'applied', reasons: [], durationMs: 1, configHash: 'nothex' }], history, doc).join(), /oneOf/);
  t.match(String(answerSchema(doc, 'GET', '/api/state', 200, 'text/html')), /not documented/);
  t.match(checkSchema(1, { minimum: 0 }, doc).join(), /does not know the keyword "minimum"/);
});
