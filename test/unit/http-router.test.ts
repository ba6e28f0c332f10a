import t from 'tap';
import { Router, type Route } from '../../src/http/router.js';

const route = (name: string, path: string | RegExp, methods: string[] = ['GET']): Route => ({
  name, path, handlers: Object.fromEntries(methods.map((m) => [m, () => undefined])),
});

t.test('the first route added that matches wins, exact paths and patterns alike', async (t) => {
  const router = new Router()
    .add(route('/status', '/status'))
    .add(route('/api/services/{id}', /^\/api\/services\/(.+)$/, ['GET', 'PUT']))
    .add(route('/api/services/special', '/api/services/special', ['POST']))
    .add(route('/status again', '/status', ['POST']))
    .add(route('catch-all', /^\/(.*)$/));
  const cases = [
    { desc: 'exact path', method: 'GET', path: '/status', want: ['found', '/status', []] },
    { desc: 'a later exact duplicate never wins', method: 'POST', path: '/status', want: ['method', '/status', undefined] },
    { desc: 'a pattern added before an exact path wins', method: 'GET', path: '/api/services/special', want: ['found', '/api/services/{id}', ['special']] },
    { desc: 'pattern captures', method: 'PUT', path: '/api/services/a/b', want: ['found', '/api/services/{id}', ['a/b']] },
    { desc: 'a pattern after all exact paths', method: 'GET', path: '/other', want: ['found', 'catch-all', ['other']] },
    { desc: 'HEAD is GET', method: 'HEAD', path: '/status', want: ['found', '/status', []] },
  ] as const;
  for (const c of cases) {
    const m = router.match(c.method, c.path);
    const params = m.kind === 'found' ? m.params : undefined;
    t.same([m.kind, m.kind === 'none' ? undefined : m.route.name, params], c.want, c.desc);
  }
  const m = router.match('DELETE', '/api/services/x');
  t.same(m.kind === 'method' ? m.allow : undefined, 'GET, HEAD, PUT', 'Allow lists HEAD after GET');
  t.equal(new Router().add(route('/a', '/a')).match('GET', '/b').kind, 'none');
});
