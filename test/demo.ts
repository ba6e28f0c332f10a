/**
 * `npm run demo [-- --apps N]`: culm's main job on one machine with nothing else around. Starts the project's
 * Marathon emulator (Marathon 1.10, SSE) with N apps (default 2: /web and /shop/api; more are /fleet/app-…)
 * whose tasks share a few tiny local HTTP servers, then the real culm binary (dist/main.js) with the embedded
 * file store and a local HAProxy. Once culm has applied its first config it prints the addresses, the commands
 * that change apps and tasks through the emulator's Marathon API, and one line starting with "ready". Ctrl-C
 * stops everything it started.
 *
 * Ports: DEMO_HTTP_PORT (HAProxy, 8080), DEMO_API_PORT (culm, 8000), DEMO_MARATHON_PORT (the emulator, 8090);
 * data in CULM_DATA_DIR (data/demo). Other CULM_* settings pass through to culm.
 */
import { join, resolve } from 'node:path';
import { MarathonEmulator } from './helpers/marathon-emulator.js';
import { startBackend, type Backend } from './helpers/net.js';
import { PidFileWatcher, requireBinary, startChild } from './helpers/processes.js';

const root = resolve(new URL('..', import.meta.url).pathname);
const dataDir = resolve(process.env.CULM_DATA_DIR ?? join(root, 'data', 'demo'));
const httpPort = Number(process.env.DEMO_HTTP_PORT ?? 8080);
const apiPort = Number(process.env.DEMO_API_PORT ?? 8000);
const marathonPort = Number(process.env.DEMO_MARATHON_PORT ?? 8090);
const BACKENDS = 4;
const MAX_APPS = 100_000;

/** `--apps N` / `--apps=N`; anything else is refused with the usage line. */
function appCount(argv: string[]): number {
  const usage = `usage: npm run demo [-- --apps N]   (N from 1 to ${MAX_APPS}; default 2)`;
  let n = 2;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^--apps(?:=(.*))?$/.exec(arg);
    const value = m ? (m[1] ?? argv[++i]) : undefined;
    if (!m || value === undefined || !/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_APPS) {
      const shown = m ? `--apps ${value ?? '(no value)'}` : arg;
      process.stderr.write(`${arg === '--help' ? '' : `demo: bad argument ${shown}\n`}${usage}\n`);
      process.exit(arg === '--help' ? 0 : 2);
    }
    n = Number(value);
  }
  return n;
}

/** /web (2 tasks), /shop/api (a health check), then /fleet/app-… with 1 or 2 tasks each, spread over the backends. */
function seed(marathon: MarathonEmulator, backends: Backend[], apps: number): void {
  const on = (i: number): number => backends[i % backends.length].port;
  marathon.addApp({ id: '/web', instances: 2 });
  marathon.addTask('/web', { port: on(0) });
  marathon.addTask('/web', { port: on(1) });
  if (apps < 2) return;
  marathon.addApp({ id: '/shop/api', instances: 1, healthChecks: [{ protocol: 'HTTP', path: '/health' }] });
  marathon.addTask('/shop/api', { port: on(2), healthy: true });
  const width = String(apps).length;
  for (let i = 1; i <= apps - 2; i++) {
    const id = `/fleet/app-${String(i).padStart(width, '0')}`;
    const tasks = i % 5 === 0 ? 2 : 1;
    marathon.addApp({ id, instances: tasks });
    for (let k = 0; k < tasks; k++) marathon.addTask(id, { port: on(i + k) });
  }
}

async function waitReady(api: string, exited: () => boolean): Promise<boolean> {
  for (;;) {
    if (exited()) return false;
    const status = await fetch(`${api}/readyz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status, () => 0);
    if (status === 200) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  const apps = appCount(process.argv.slice(2));
  requireBinary('haproxy', 'run `bash .ci/setup` first (installs Debian\'s haproxy)');
  const backends: Backend[] = [];
  for (let i = 0; i < BACKENDS; i++) backends.push(await startBackend());
  // Tasks the emulator launches itself (a POSTed app, a scale-up, a replacement) take the backends in turn.
  let launched = 0;
  const marathon = await MarathonEmulator.start({
    version: '1.10', port: marathonPort, recordEvents: false, launch: () => ({ port: backends[launched++ % backends.length].port }),
  });
  seed(marathon, backends, apps);

  const output = join(dataDir, 'haproxy.cfg');
  const api = `http://127.0.0.1:${apiPort}`;
  const started = Date.now();
  const culm = startChild(process.execPath, [join(root, 'dist', 'main.js')], {
    ...process.env,
    MARATHON_ENDPOINT: marathon.url,
    BIND: `127.0.0.1:${apiPort}`,
    HAPROXY_HTTP_BIND: `127.0.0.1:${httpPort}`,
    HAPROXY_OUTPUT_PATH: output,
    CULM_DATA_DIR: dataDir,
  });
  culm.proc.stdout!.pipe(process.stdout);
  culm.proc.stderr!.pipe(process.stderr);
  const haproxy = new PidFileWatcher(`${output}.pid`);

  // Something to watch: a third /web task comes and goes every 15 s.
  let extra: string | undefined;
  const churn = setInterval(() => {
    if (extra) {
      marathon.killTask(extra, { withKilling: true });
      extra = undefined;
    } else {
      extra = marathon.addTask('/web', { port: backends[3].port });
    }
  }, 15_000);

  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(churn);
    await culm.stop('SIGTERM');
    await haproxy.stopAll();
    await marathon.stop();
    await Promise.all(backends.map((b) => b.close()));
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  void culm.exited.then((code) => {
    if (stopping) return;
    process.stderr.write(`culm exited with ${code}\n`);
    void stop(code ?? 1);
  });

  if (!(await waitReady(api, () => stopping || culm.proc.exitCode !== null))) return;
  const m = marathon.url;
  const json = "-H 'Content-Type: application/json'";
  process.stderr.write(`
culm demo: ${apps} app${apps === 1 ? '' : 's'}, their tasks on ${BACKENDS} local backends (each answers with its port)
  Marathon emulator  ${m}
  HAProxy frontend   http://127.0.0.1:${httpPort}/web   http://127.0.0.1:${httpPort}/shop/api
  culm REST and UI   ${api}/      (/api/state, /api/services, /metrics, /readyz)
  rendered config    ${output}
  Change apps and tasks through the emulator's Marathon API (README, "The demo"):
    curl -X POST ${json} -d '{"id":"/hello","cmd":"serve","instances":2}' ${m}/v2/apps
    curl http://127.0.0.1:${httpPort}/hello
    curl -X PUT ${json} -d '{"instances":3}' ${m}/v2/apps/hello
    curl ${m}/v2/apps/hello/tasks
    curl -X DELETE '${m}/v2/apps/hello/tasks/<task id>?scale=true'
    curl -X DELETE ${m}/v2/apps/hello
  and set a rule through culm:
    curl -X PUT -d '{"acl":"path_beg -i /shop"}' ${api}/api/services/shop/api
ready: culm applied its first config (${apps} apps) in ${((Date.now() - started) / 1000).toFixed(1)} s. Ctrl-C to stop.

`);
}

void main();
