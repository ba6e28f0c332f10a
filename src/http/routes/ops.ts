/** Operational routes: Bamboo's `/status`, health and readiness probes, metrics, apply history, applied config. */
import type { Metrics } from '../../metrics/metrics.js';
import type { CulmCore } from '../../pipeline/types.js';
import { CulmError } from '../../core/errors.js';
import { send, sendJson, sendText, TEXT_TYPE, type Headers } from '../io.js';
import type { Route } from '../router.js';

export function opsRoutes(core: CulmCore, metrics: Metrics): Route[] {
  return [
    // Bamboo wrote a bare "OK", which Go labelled text/plain; load balancers check for exactly that.
    // Probes stay open whatever CULM_API_READ_AUTH says: a load balancer or kubelet has no credentials.
    { name: '/status', path: '/status', access: 'probe', handlers: { GET: ({ res }) => sendText(res, 200, 'OK') } },
    // Liveness: the event loop answers. Never depends on Marathon, ZooKeeper or HAProxy, so a dependency outage
    // does not get the process restarted.
    { name: '/healthz', path: '/healthz', access: 'probe', handlers: { GET: ({ res }) => sendJson(res, 200, { status: 'ok' }) } },
    {
      name: '/readyz',
      path: '/readyz',
      access: 'probe',
      handlers: {
        GET: ({ res }) => {
          const { ready, checks } = core.readiness();
          sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks });
        },
      },
    },
    {
      name: '/metrics',
      path: '/metrics',
      handlers: { GET: async ({ res }) => send(res, 200, metrics.contentType, await metrics.text()) },
    },
    { name: '/api/history', path: '/api/history', handlers: { GET: ({ res }) => sendJson(res, 200, core.history()) } },
    {
      name: '/api/config',
      path: '/api/config',
      handlers: {
        GET: ({ res, query }) => {
          const text = core.appliedConfig();
          if (text === undefined) throw new CulmError('E_NO_CONFIG', 'no config has been applied yet', { status: 404 });
          // `?download=1`: saved as a file by the console's download link.
          const download: Headers = query.get('download') === '1' ? { 'Content-Disposition': 'attachment; filename="haproxy.cfg"' } : {};
          send(res, 200, TEXT_TYPE, text, download);
        },
      },
    },
    {
      name: '/api/history/{id}/diff',
      path: /^\/api\/history\/([^/]+)\/diff$/,
      handlers: {
        GET: ({ res, params }) => {
          const id = /^[1-9][0-9]{0,15}$/.test(params[0]) ? Number(params[0]) : undefined;
          const diff = id === undefined ? undefined : core.applyDiff?.(id);
          if (diff === undefined) throw new CulmError('E_NO_DIFF', `no diff is kept under ${JSON.stringify(params[0])}: only the last 50 applies keep theirs`, { status: 404 });
          sendText(res, 200, diff);
        },
      },
    },
    { name: '/api/metrics/summary', path: '/api/metrics/summary', handlers: { GET: async ({ res }) => sendJson(res, 200, await metrics.summary()) } },
  ];
}
