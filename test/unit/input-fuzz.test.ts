/**
 * Property test of the input grammar: random bytes in every field of Marathon's apps, tasks and events, through
 * the real mapping, reducer, view and renderer (default template and a custom one that writes labels and env),
 * and the rendered config must hold exactly the directives the template writes: the same sections, each line
 * one of the template's directives with its number of HAProxy words. A sample is checked by real `haproxy -c`.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsMapper } from '../../src/core/marathon-map.js';
import { toDomainEvent } from '../../src/core/events.js';
import { applySnapshot, reduce } from '../../src/core/state.js';
import { emptyState } from '../../src/core/model.js';
import { buildView } from '../../src/core/view.js';
import { Renderer } from '../../src/haproxy/render.js';
import { requireBinary } from '../helpers/processes.js';

const ROUNDS = 400;
const dir = mkdtempSync(join(tmpdir(), 'culm-fuzz-'));
const paths = { HttpBind: '127.0.0.1:18080', StatsSocket: join(dir, 'h.sock'), PidFile: join(dir, 'h.pid'), OutputPath: join(dir, 'h.cfg') };
const defaultTemplate = new URL('../../templates/haproxy.cfg.eta', import.meta.url).pathname;

// A custom template that hands every label and env value to HAProxy, raw in a comment and quoted in a directive.
const customTemplate = join(dir, 'custom.cfg.eta');
writeFileSync(customTemplate, `global
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend f
    bind 127.0.0.1:18081
<% for (const app of it.Apps) { -%>
backend <%= app.Backend %>
<% for (const [k, v] of Object.entries(app.Labels).concat(Object.entries(app.Env))) { -%>
    # <%= k %> = <%= v %>
    http-response set-header X-Value <%= it.quoteFormat(k + '=' + v) %>
<% } -%>
<% for (const task of app.AllTasks.filter((x) => x.Host)) { -%>
    # <%= task.Id %> <%= task.State %> <%= task.Ready %>
    server <%= task.Server %> <%= task.Host %>:<%= task.Port || 1 %><%= app.HealthCheckPath ? ' check' : '' %>
<% } -%>
<% for (const h of app.HealthChecks) { -%>
    # <%= h.Protocol %> <%= h.Path %> <%= h.PortIndex %>
<% } -%>
<% if (app.ReadinessCheckPath) { -%>
    # readiness <%= app.ReadinessCheckPath %>
<% } -%>
<% } -%>
`);

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const rand = rng(SEED);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
const int = (n: number): number => Math.floor(rand() * n);

const INJECTIONS = [
  '\nglobal\n    master-worker\nprogram pwn\n    command /bin/sh -c "id"\n#',
  ' redir http://evil.example #', '\nlisten steal\n    bind :1\n', '"${HOME}"', "'", '\\', '#', '$PATH', '%[env(HOME)]',
  '\r\n', '\u0000', '\u2028', '\t', ' ', ';', '\u00ff', '\u{1F600}',
];

/** A value of the field's kind: usually good, often good with an injection spliced in, sometimes random bytes. */
function fuzz(good: string, clean = 0.6): string {
  const r = rand();
  if (r < clean) return good;
  if (r < clean + (1 - clean) * 0.75) {
    const at = int(good.length + 1);
    return good.slice(0, at) + pick(INJECTIONS) + good.slice(at);
  }
  let s = '';
  for (let i = int(12); i >= 0; i--) s += String.fromCharCode(int(rand() < 0.9 ? 256 : 0x3000));
  return s;
}

function fuzzNumber(good: number, clean = 0.6): unknown {
  return rand() < clean ? good : pick<unknown>([0, -1, 65536, 1.5, 1e100, `${good}`, null]);
}

/** Fields that refuse the whole app are spoilt less often, so that most rounds render something. */
const APP_LEVEL = 0.93;

/** Every kind, on the serving port, on another port by index, or on a fixed port. */
function randomHealthCheck(): Record<string, unknown> {
  const check: Record<string, unknown> = { protocol: fuzz(pick(['HTTP', 'HTTPS', 'TCP', 'COMMAND', 'MESOS_HTTP']), APP_LEVEL), path: fuzz('/health', APP_LEVEL) };
  const where = int(3);
  if (where === 0) check.portIndex = fuzzNumber(0, APP_LEVEL);
  else if (where === 1) check.portIndex = fuzzNumber(1, APP_LEVEL);
  else check.port = fuzzNumber(8080, APP_LEVEL);
  return check;
}

function randomApp(n: number): Record<string, unknown> {
  const id = fuzz(`/grp${n}/app${n}`, APP_LEVEL);
  // Sometimes a second service port (its own frontend and backend when service ports are bound).
  const ports = rand() < 0.3 ? [fuzzNumber(10_000 + n, APP_LEVEL), fuzzNumber(15_000 + n, APP_LEVEL)] : [fuzzNumber(10_000 + n, APP_LEVEL)];
  const tasks = Array.from({ length: 1 + int(3) }, (_, i) => ({
    id: fuzz(`grp${n}_app${n}.instance-${n}-${i}._app.1`),
    appId: id,
    host: fuzz(pick(['10.0.0.1', 'agent-1.example.com', '::1'])),
    ports: [fuzzNumber(31_000 + i), fuzzNumber(32_000 + i)],
    ipAddresses: [{ ipAddress: fuzz('10.9.0.7'), protocol: 'IPv4' }],
    state: fuzz('TASK_RUNNING'),
    version: fuzz('2026-12-01T00:00:00.000Z'),
    startedAt: '2026-12-01T00:00:01.000Z',
    healthCheckResults: [{ alive: rand() < 0.8 }],
  }));
  const app: Record<string, unknown> = {
    id,
    instances: tasks.length,
    // marathon-lb's labels the default template writes (lb-labels.ts), each sometimes absent.
    labels: {
      [fuzz('HAPROXY_GROUP')]: fuzz('external'), HAPROXY_0_VHOST: fuzz(pick(['web.example.com', 'Web.Example.com, api.example.com'])),
      ...(rand() < 0.5 ? { HAPROXY_0_PATH: fuzz('/api/v1') } : {}),
      ...(rand() < 0.5 ? { HAPROXY_0_REDIRECT_TO_HTTPS: fuzz(pick(['true', 'false', 'yes'])) } : {}),
      ...(rand() < 0.3 ? { HAPROXY_0_GROUP: fuzz('internal') } : {}),
      ...(rand() < 0.3 ? { [pick(['HAPROXY_0_MODE', 'HAPROXY_1_MODE'])]: fuzz(pick(['tcp', 'http', 'TCP'])) } : {}),
    },
    // Bamboo's TCP frontend, sometimes on another app's port (a clash the view settles).
    env: { [fuzz('PORT0')]: fuzz('8080'), ...(rand() < 0.2 ? { BAMBOO_TCP_PORT: fuzz(String(10_000 + int(n + 1))) } : {}) },
    healthChecks: rand() < 0.7 ? [randomHealthCheck()] : [],
    version: fuzz('2026-12-01T00:00:00.000Z', APP_LEVEL),
    tasks,
  };
  if (rand() < 0.5) {
    app.readinessChecks = [{
      name: fuzz('readinessCheck', APP_LEVEL), protocol: fuzz('HTTP', APP_LEVEL), path: fuzz('/ready', APP_LEVEL),
      portName: fuzz('http', APP_LEVEL), intervalSeconds: fuzzNumber(30, APP_LEVEL), timeoutSeconds: fuzzNumber(10, APP_LEVEL),
      httpStatusCodesForReady: [fuzzNumber(200, APP_LEVEL)],
    }];
    app.deployments = rand() < 0.5 ? [{ id: 'd1' }] : [];
    app.readinessCheckResults = tasks.map((x) => ({ name: 'readinessCheck', taskId: rand() < 0.9 ? x.id : fuzz(x.id, APP_LEVEL), ready: rand() < 0.5 }));
  }
  if (rand() < 0.5) app.portDefinitions = ports.map((port) => ({ port, protocol: 'tcp' }));
  else app.ports = ports;
  return app;
}

function randomEvent(apps: Array<Record<string, unknown>>): unknown {
  const app = pick(apps);
  const task = pick(app.tasks as Array<Record<string, unknown>>);
  const kind = int(5);
  if (kind === 0 || kind === 1) {
    return {
      eventType: 'status_update_event', appId: fuzz(String(app.id)), taskId: fuzz(`${String(task.id)}x`),
      taskStatus: fuzz(pick(['TASK_RUNNING', 'TASK_KILLED', 'TASK_STAGING'])), host: fuzz('10.0.0.2'),
      ports: [fuzzNumber(32_000)], ipAddresses: [{ ipAddress: fuzz('10.9.0.8') }], version: fuzz('2026-12-01T00:00:02.000Z'),
    };
  }
  if (kind === 2) return { eventType: 'health_status_changed_event', appId: fuzz(String(app.id)), taskId: fuzz(String(task.id)), alive: rand() < 0.5 };
  if (kind === 3) return { eventType: 'api_post_event', appDefinition: { ...randomApp(900 + int(50)), tasks: undefined } };
  return { eventType: 'app_terminated_event', appId: fuzz(String(app.id)) };
}

/**
 * HAProxy's reading of one line (cfgparse's parse_line): words split on blanks; `'…'` literal, `"…"` with `\`
 * escapes and `${VAR}` expanded, `\` escapes outside quotes, `#` outside quotes starts a comment. Returns the
 * words, and whether anything but plain text was used (a quote, an escape, an expansion, a comment).
 */
function haproxyWords(line: string): { words: string[]; special: boolean; comment: boolean } {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let special = false;
  let comment = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === '#') {
      comment = true;
      inWord = word.length > 0;
      break;
    }
    if (c === "'") {
      special = true;
      const end = line.indexOf("'", i + 1);
      word += line.slice(i + 1, end < 0 ? line.length : end);
      i = end < 0 ? line.length : end;
    } else if (c === '\\') {
      special = true;
      word += line[i + 1] ?? '';
      i++;
    } else if (c === '"' || c === '$') {
      special = true;
      word += c;
    } else {
      word += c;
    }
  }
  if (inWord) words.push(word);
  return { words, special, comment };
}

/** The directives each section of the default template writes: keyword → allowed word counts. */
const DEFAULT_SHAPES: Record<string, Record<string, number[]>> = {
  // acl: path_beg <label path> (4), path_beg -i <id> (5), host match of one or two vhosts (6, 7);
  // use_backend: the map (2), one or two ACLs (4, 5).
  // service-port frontends: bind, mode, default_backend, and in TCP ones no option idle-close-on-response, option tcplog.
  frontend: { bind: [2], acl: [4, 5, 6, 7], use_backend: [2, 4, 5], mode: [2], default_backend: [2], no: [3], option: [2] },
  // server: no check; `check inter 5s`; + `port <n>`; + `ssl verify none check-ssl`; + both.
  backend: { balance: [2], option: [2, 4], server: [3, 6, 8, 10, 12], 'http-request': [10], mode: [2] },
};

function checkDefault(t: Test, text: string, skeleton: string[], backends: Set<string>, listeners: Set<string>): void {
  let section = '';
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const { words, special, comment } = haproxyWords(line);
    if (words.length === 0) continue; // a comment line of the template's own
    if (special || (comment && !/^\s*#/.test(line))) {
      t.fail(`a value changed how HAProxy reads a line: ${JSON.stringify(line)}`);
      continue;
    }
    if (!/^\s/.test(line)) {
      section = words[0];
      if (section === 'backend') {
        if (words.length !== 2 || !backends.has(words[1])) t.fail(`unexpected backend line ${JSON.stringify(line)}`);
        seen.add(words[1]);
      } else if (section === 'frontend' && words.length === 2 && listeners.has(words[1])) {
        listeners.delete(words[1]);
      } else if (!skeleton.includes(line)) {
        t.fail(`a section the template does not write: ${JSON.stringify(line)}`);
      }
      continue;
    }
    const shapes = DEFAULT_SHAPES[section];
    if (!shapes) {
      if (!skeleton.includes(line)) t.fail(`a ${section} line the template does not write: ${JSON.stringify(line)}`);
      continue;
    }
    const counts = shapes[words[0]];
    if (!counts || !counts.includes(words.length)) t.fail(`directive not of the template's shape in ${section}: ${JSON.stringify(line)}`);
  }
  if (seen.size !== backends.size) t.fail(`backends rendered ${seen.size}, apps accepted ${backends.size}`);
  if (listeners.size) t.fail(`service-port frontends not rendered: ${[...listeners].join(' ')}`);
}


t.test(`random bytes in every field never write a directive (seed ${SEED}, ${ROUNDS} rounds)`, async (t) => {
  requireBinary('haproxy', 'apt-get install -y haproxy');
  const renderer = new Renderer(defaultTemplate);
  const custom = new Renderer(customTemplate);
  const skeleton = renderer.render(buildView(emptyState(), new Map(), paths)).split('\n').filter((l) => l.trim() !== '');
  let accepted = 0;
  let refused = 0;
  let checkedByHaproxy = 0;
  let tcpListeners = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const raw = Array.from({ length: 2 + int(5) }, (_, i) => randomApp(round * 10 + i));
    const mapper = new AppsMapper();
    for (const a of raw) mapper.add(a);
    const mapped = mapper.result();
    refused += mapped.rejected.length;
    let state = applySnapshot(emptyState(), mapped.apps, 1);
    for (let i = 0; i < 20; i++) {
      const event = toDomainEvent(randomEvent(raw));
      if (event.kind === 'invalid') refused++;
      state = reduce(state, event, 2).state;
    }
    accepted += state.apps.size;
    // Half the rounds with a group setting: apps it leaves out are not rendered at all.
    // Two rounds in three with every service port bound (HAProxy.BindServicePorts).
    const bind = round % 3 ? { servicePortBind: '127.0.0.1' } : {};
    const view = buildView(state, new Map(), round % 2 ? { ...paths, ServeGroups: { groups: ['external'], strict: round % 4 === 1, ...bind } } : { ...paths, ServeGroups: { groups: [], strict: false, ...bind } });
    const text = renderer.render(view);
    checkDefault(t, text, skeleton, new Set(view.Apps.flatMap((a) => a.Backends.map((b) => b.Name))), new Set(view.Listeners.map((l) => l.Name)));
    const bound = view.Listeners.map((l) => l.Port);
    t.equal(new Set(bound).size, bound.length, `round ${round}: no port bound twice`);
    tcpListeners += view.Listeners.filter((l) => l.Mode === 'tcp').length;

    const customText = custom.render(view);
    let expected = 8;
    for (const a of view.Apps) expected += 1 + 2 * (Object.keys(a.Labels).length + Object.keys(a.Env).length) + 2 * a.AllTasks.filter((x) => x.Host).length + a.HealthChecks.length + (a.ReadinessCheckPath ? 1 : 0);
    if (!t.equal(customText.split('\n').length - 1, expected, `round ${round}: custom template lines are the template's`)) t.comment(customText);
    for (const line of customText.split('\n')) {
      if (!/^\s+http-response/.test(line)) continue;
      const { words, comment } = haproxyWords(line);
      if (words.length !== 4 || comment) t.fail(`a quoted value is not one word: ${JSON.stringify(line)}`);
    }
    if (round % 80 === 0) {
      // HAProxy itself reads both configs (server addresses replaced by one it can resolve: -c resolves names).
      if (view.RouteMap) writeFileSync(view.RouteMap.Path, view.RouteMap.Text);
      for (const [name, body] of [['default', text], ['custom', customText]] as const) {
        const file = join(dir, `${name}.cfg`);
        writeFileSync(file, body.replace(/^(\s+server \S+ )\S+:(\d+)/gm, '$1127.0.0.1:$2'));
        try {
          execFileSync('haproxy', ['-c', '-f', file], { stdio: 'pipe' });
          checkedByHaproxy++;
        } catch (err) {
          t.fail(`haproxy -c refused the ${name} config of round ${round}: ${String((err as { stderr?: Buffer }).stderr)}`);
        }
      }
    }
  }
  t.ok(accepted > ROUNDS, `apps accepted and rendered: ${accepted}`);
  t.ok(refused > ROUNDS, `values refused: ${refused}`);
  t.ok(tcpListeners > 10, `TCP frontends rendered (HAPROXY_{n}_MODE, BAMBOO_TCP_PORT): ${tcpListeners}`);
  t.equal(checkedByHaproxy, 2 * Math.ceil(ROUNDS / 80), 'sample checked by haproxy -c');
});
