// The leader's REST surface. Answers are built from the emulator's model by model.ts; this file only routes
// (the write routes are in writes.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MarathonEmulator } from '../marathon-emulator.js';
import { streamEvent, subscriptionEvent } from './events.js';
import { notAllowed, sendJettyError, sendJson } from './http.js';
import { type App, type Embed, normalizeAppId, renderApp, renderTask, resolveEmbeds } from './model.js';
import { deploymentsJson } from './readiness.js';
import { writeRoute } from './writes.js';

/** NoopHttpCallbackSubscriptionService (1.4.13), verbatim. */
export const CALLBACKS_DISABLED_MESSAGE =
  'http event callback system is not running on this Marathon instance. Please re-start this instance with\n' +
  '"--event_subscriber http_callback".';

const notFound = (res: ServerResponse, h: Record<string, string>): void =>
  sendJson(res, 404, { message: 'HTTP 404 Not Found' }, h);

export function route(emu: MarathonEmulator, req: IncomingMessage, res: ServerResponse, u: URL): void | Promise<void> {
  const h = emu.leaderHeaders();
  const method = req.method ?? 'GET';
  const path = u.pathname.replace(/\/+$/, '') || '/';
  if (path === '/v2/events') return events(emu, req, res, u, h);
  if (path === '/v2/eventSubscriptions') return subscriptions(emu, req, res, u, h);
  if (path === '/ping') {
    res.writeHead(200, { ...h, 'Content-Type': 'text/plain' });
    res.end('pong\n');
    return;
  }
  const known = ['/v2/apps', '/v2/tasks', '/v2/leader', '/v2/info', '/v2/deployments', '/v2/tasks/delete'];
  if (!known.includes(path) && !path.startsWith('/v2/apps/')) return notFound(res, h);
  if (method !== 'GET') return writeRoute(emu, req, res, u, path, h);
  if (path === '/v2/tasks/delete') return notAllowed(res, h);
  switch (path) {
    case '/v2/apps':
      return sendJson(res, 200, { apps: listApps(emu, u).map((a) => info(emu, a, resolveEmbeds(u.searchParams.getAll('embed')))) }, h);
    case '/v2/tasks': {
      const wanted = u.searchParams.getAll('status').map((s) => `TASK_${s.toUpperCase()}`);
      const tasks = [...emu.tasks.values()].filter((t) => wanted.length === 0 || wanted.includes(t.state));
      return sendJson(res, 200, { tasks: tasks.map((t) => renderTask(emu.version, emu.app(t.appId), t, false)) }, h);
    }
    case '/v2/leader':
      return sendJson(res, 200, { leader: emu.hostPort }, h);
    case '/v2/info':
      return sendJson(res, 200, infoJson(emu), h);
    case '/v2/deployments':
      return sendJson(res, 200, deploymentsJson(emu.apps.values()), h);
  }
  const rest = path.slice('/v2/apps'.length);
  const tasksOf = /^(.+)\/tasks$/.exec(rest);
  if (tasksOf && emu.apps.has(normalizeAppId(tasksOf[1]))) {
    const app = emu.app(tasksOf[1]);
    return sendJson(res, 200, { tasks: emu.tasksOf(app.id).map((t) => renderTask(emu.version, app, t, false)) }, h);
  }
  const app = emu.apps.get(normalizeAppId(rest));
  if (!app) return sendJson(res, 404, { message: `App '${normalizeAppId(rest)}' does not exist` }, h);
  // AppsResource.show always adds counts, tasks, lastTaskFailure and deployments.
  const embed = resolveEmbeds(u.searchParams.getAll('embed'));
  for (const e of ['counts', 'tasks', 'lastTaskFailure', 'deployments'] as Embed[]) embed.add(e);
  return sendJson(res, 200, { app: info(emu, app, embed) }, h);
}

const info = (emu: MarathonEmulator, app: App, embed: Set<Embed>): Record<string, unknown> =>
  renderApp(emu.version, app, emu.tasksOf(app.id), embed);

/** Filters of GET /v2/apps: id (substring), cmd (substring), label selectors `k`, `k==v`, `k!=v` (comma = and). */
function listApps(emu: MarathonEmulator, u: URL): App[] {
  let apps = [...emu.apps.values()].sort((a, b) => a.id.localeCompare(b.id));
  const id = u.searchParams.get('id');
  if (id) apps = apps.filter((a) => a.id.toLowerCase().includes(id.toLowerCase()));
  const cmd = u.searchParams.get('cmd');
  if (cmd) apps = apps.filter((a) => (a.spec.cmd ?? '').includes(cmd));
  const label = u.searchParams.get('label');
  if (label) {
    for (const sel of label.split(',').map((s) => s.trim())) {
      const m = /^([^=!]+?)\s*(==|!=)\s*(.*)$/.exec(sel);
      apps = apps.filter((a) => {
        const labels = a.spec.labels ?? {};
        if (!m) return sel in labels;
        return m[2] === '==' ? labels[m[1]] === m[3] : labels[m[1]] !== m[3];
      });
    }
  }
  return apps;
}

function infoJson(emu: MarathonEmulator): Record<string, unknown> {
  const o: Record<string, unknown> = {
    name: 'marathon',
    version: emu.opts.infoVersion ?? { '1.4': '1.4.13', '1.5': '1.5.0', '1.10': '1.10.26' }[emu.version],
    buildref: 'unknown',
    elected: true,
    leader: emu.hostPort,
    frameworkId: emu.frameworkId,
    marathon_config: {
      checkpoint: true,
      executor: '//cmd',
      failover_timeout: 604800,
      features: [],
      framework_name: 'marathon',
      ha: true,
      hostname: '127.0.0.1',
      leader_proxy_connection_timeout_ms: 5000,
      leader_proxy_read_timeout_ms: 10000,
      local_port_max: 20000,
      local_port_min: 10000,
      master: 'zk://localhost:2181/mesos',
      mesos_role: null,
      mesos_user: 'nobody',
      webui_url: null,
    },
    zookeeper_config: {
      zk: 'zk://localhost:2181/marathon',
      zk_compression: true,
      zk_compression_threshold: 65536,
      zk_connection_timeout: 10000,
      zk_max_node_size: 1024000,
      zk_max_versions: 50,
      zk_session_timeout: 10000,
      zk_timeout: 10000,
    },
  };
  if (emu.version === '1.4') {
    o.event_subscriber = emu.callbacks
      ? { type: 'http_callback', http_endpoints: emu.opts.httpEndpoints ?? null }
      : null;
  }
  o.http_config = { http_port: Number(emu.hostPort.split(':')[1]), https_port: 8443 };
  return o;
}

/** Jetty EventSourceServlet: only a request with an Accept header value equal to "text/event-stream". */
function events(emu: MarathonEmulator, req: IncomingMessage, res: ServerResponse, u: URL, h: Record<string, string>): void {
  const method = req.method ?? 'GET';
  const accepts = req.headersDistinct.accept ?? [];
  if (method !== 'GET' || !accepts.includes('text/event-stream')) {
    return sendJettyError(res, 405, `HTTP method ${method} is not supported by this URL`, u.pathname);
  }
  const types = u.searchParams.getAll('event_type').filter((t) => t !== '');
  emu.hub.open(req, res, { ...h, 'Content-Type': 'text/event-stream;charset=UTF-8', Connection: 'close' }, types);
  emu.publish(streamEvent('event_stream_attached', req.socket.remoteAddress ?? '127.0.0.1'));
}

/** java.net.URL accepts any URL whose scheme has a protocol handler (Marathon's urlIsValid). */
const JAVA_SCHEMES = new Set(['http', 'https', 'ftp', 'file', 'jar', 'mailto']);
const validCallbackUrl = (url: string | null): url is string =>
  url !== null && JAVA_SCHEMES.has(/^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase() ?? '');

function subscriptions(
  emu: MarathonEmulator,
  req: IncomingMessage,
  res: ServerResponse,
  u: URL,
  h: Record<string, string>,
): void {
  if (emu.version !== '1.4') return notFound(res, h);
  if (!emu.callbacks) return sendJson(res, 400, { message: CALLBACKS_DISABLED_MESSAGE }, h);
  const method = req.method ?? 'GET';
  if (method === 'GET') return sendJson(res, 200, { callbackUrls: emu.callbacks.list() }, h);
  if (method !== 'POST' && method !== 'DELETE') return notAllowed(res, h);
  const url = u.searchParams.get('callbackUrl');
  const clientIp = req.socket.remoteAddress ?? '127.0.0.1';
  if (method === 'POST') {
    if (!validCallbackUrl(url)) {
      return sendJson(res, 422, { message: 'Object is not valid', details: [{ path: '/', errors: ['URL is not valid'] }] }, h);
    }
    emu.callbacks.add(url);
    const body = subscriptionEvent('subscribe_event', clientIp, url);
    emu.publish(body);
    return sendJson(res, 200, body, h);
  }
  emu.callbacks.remove(url ?? '');
  const body = subscriptionEvent('unsubscribe_event', clientIp, url ?? '');
  emu.publish(body);
  return sendJson(res, 200, body, h);
}
