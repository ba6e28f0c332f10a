/**
 * `npm run demo`: culm's main job on one machine with nothing else around. Starts the project's Marathon
 * emulator (Marathon 1.10, SSE) with a few apps whose tasks are tiny local HTTP servers, then the real culm
 * binary (dist/main.js) with the embedded file store and a local HAProxy. Ctrl-C stops everything it started.
 */
import { join, resolve } from 'node:path';
import { MarathonEmulator } from './helpers/marathon-emulator.js';
import { startBackend, type Backend } from './helpers/net.js';
import { PidFileWatcher, requireBinary, startChild } from './helpers/processes.js';

const root = resolve(new URL('..', import.meta.url).pathname);
const dataDir = resolve(process.env.CULM_DATA_DIR ?? join(root, 'data', 'demo'));
const httpPort = Number(process.env.DEMO_HTTP_PORT ?? 8080);
const apiPort = Number(process.env.DEMO_API_PORT ?? 8000);

async function main(): Promise<void> {
  requireBinary('haproxy', 'run `bash .ci/setup` first (installs Debian\'s haproxy)');
  const marathon = await MarathonEmulator.start({ version: '1.10' });
  const backends: Backend[] = [];
  for (let i = 0; i < 4; i++) backends.push(await startBackend());
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backends[0].port });
  marathon.addTask('/web', { port: backends[1].port });
  marathon.addApp({ id: '/shop/api', healthChecks: [{ protocol: 'HTTP', path: '/health' }] });
  marathon.addTask('/shop/api', { port: backends[2].port, healthy: true });

  const output = join(dataDir, 'haproxy.cfg');
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

  process.stderr.write(`
culm demo
  Marathon emulator  ${marathon.url}   (apps /web and /shop/api)
  HAProxy frontend   http://127.0.0.1:${httpPort}/web   http://127.0.0.1:${httpPort}/shop/api
  culm REST and UI   http://127.0.0.1:${apiPort}/      (/api/state, /api/services, /metrics, /readyz)
  rendered config    ${output}
  Try: curl -X PUT -d '{"acl":"path_beg -i /shop"}' http://127.0.0.1:${apiPort}/api/services/shop/api
Ctrl-C to stop.

`);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(churn);
    await culm.stop('SIGTERM');
    await haproxy.stopAll();
    await marathon.stop();
    await Promise.all(backends.map((b) => b.close()));
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  const code = await culm.exited;
  if (!stopping) {
    process.stderr.write(`culm exited with ${code}\n`);
    await haproxy.stopAll();
    await marathon.stop();
    process.exit(code ?? 1);
  }
}

void main();
