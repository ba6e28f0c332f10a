/**
 * The two Bamboo tutorials' lines start culm unchanged (hosts and ports replaced by loopback and free ones):
 * Bamboo's README `docker run` environment (CONFIG_PATH=config/production.example.json, run from the package
 * root as the image's WORKDIR) and the Dataman build's command line, through a real shell. Real culm, HAProxy,
 * ZooKeeper and the Marathon emulator. Also: BAMBOO_DOCKER_AUTO_HOST without HOST in SSE mode, and a Bamboo
 * config naming Bamboo's Go template exits 2 with one line.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/config/index.js';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { MAIN, startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, freePort, startBackend, whoAnswers, type Backend } from '../helpers/net.js';
import { startChild } from '../helpers/processes.js';
import { rawZk, startZooKeeper, type RawZk, type ZooKeeperServer } from '../helpers/zookeeper.js';

const root = packageRoot();
let marathon: MarathonEmulator;
let zk: ZooKeeperServer;
let raw: RawZk;
let backend: Backend;
const culms: CulmInstance[] = [];
const base = mkdtempSync(join(tmpdir(), 'culm-tut-'));

t.before(async () => {
  zk = await startZooKeeper();
  raw = await rawZk(zk.connect);
  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  backend = await startBackend();
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backend.port });
});
t.teardown(async () => {
  for (const c of culms) await c.destroy();
  await raw?.close();
  await zk?.stop();
  await marathon?.stop();
  await backend?.close();
  rmSync(base, { recursive: true, force: true });
});

async function start(o: Parameters<typeof startCulm>[0]): Promise<CulmInstance> {
  const culm = await startCulm(o);
  culms.push(culm);
  await culm.waitReady(30_000);
  return culm;
}

async function putRule(culm: CulmInstance, acl: string): Promise<void> {
  const put = await culm.json('/api/services/web', {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acl }),
  });
  if (put.status !== 200) throw new Error(`PUT rule: ${put.status} ${JSON.stringify(put.body)}`);
}

t.test("Bamboo's README docker run environment", async (t) => {
  const api = await freePort();
  const culm = await start({
    marathon: marathon.url,
    cwd: root,
    ports: { api, frontend: await freePort() },
    env: {
      MARATHON_ENDPOINT: marathon.url,
      BAMBOO_ENDPOINT: `http://127.0.0.1:${api}`,
      BAMBOO_ZK_HOST: zk.connect,
      BAMBOO_ZK_PATH: '/bamboo',
      BIND: `127.0.0.1:${api}`,
      CONFIG_PATH: 'config/production.example.json',
      BAMBOO_DOCKER_AUTO_HOST: 'true',
    },
  });
  t.same(await whoAnswers(`${culm.frontend}/web`), new Set([String(backend.port)]), 'the app is routed');
  await putRule(culm, 'path_beg -i /tutorial-a');
  t.ok(await raw.exists('/bamboo/%2Fweb'), 'the rule is in ZooKeeper under BAMBOO_ZK_PATH');
  await eventually('rule applied', async () => (await whoAnswers(`${culm.frontend}/tutorial-a`, 2)).has(String(backend.port)));
  t.match(culm.child.output(), /config\/production\.example\.json/, 'the shipped file was read');
  await culm.destroy();
});

t.test("the Dataman tutorial's command line, through /bin/sh", async (t) => {
  const api = await freePort();
  const line = `-config_from_flags -haproxy_check -bamboo_endpoint="http://127.0.0.1:${api}" -bamboo_zk_host="${zk.connect}" -marathon_endpoint="${marathon.url}"`;
  const culm = await start({
    marathon: 'http://127.0.0.1:1', // the environment's endpoint is wrong on purpose: the flag must win
    cwd: root,
    ports: { api, frontend: await freePort() },
    commandLine: line,
    env: { CONFIG_PATH: join(base, 'not-read.json') },
  });
  t.same(await whoAnswers(`${culm.frontend}/web`), new Set([String(backend.port)]), 'the app is routed');
  await putRule(culm, 'path_beg -i /tutorial-b');
  t.ok(await raw.exists('/marathon-haproxy/state/%2Fweb'), "the rule is in ZooKeeper under Bamboo's default path");
  await eventually('rule applied', async () => (await whoAnswers(`${culm.frontend}/tutorial-b`, 2)).has(String(backend.port)));
  await culm.destroy();
});

t.test('BAMBOO_DOCKER_AUTO_HOST without HOST, SSE mode: starts, says which address it took', async (t) => {
  const culm = await start({ marathon: marathon.url, env: { BAMBOO_DOCKER_AUTO_HOST: 'true', CULM_EVENT_MODE: 'sse', HOST: '' } });
  t.same(await whoAnswers(`${culm.frontend}/web`), new Set([String(backend.port)]), 'the app is routed');
  t.match(culm.child.output(), /BAMBOO_DOCKER_AUTO_HOST: Bamboo\.Endpoint is http:\/\/\S+:\d+ \((the address of interface \S+|the host name), HOST is unset\)|no non-loopback IPv4 address or host name/);
  await culm.destroy();
});

t.test("a Bamboo config naming Bamboo's Go template exits 2 with one line", async (t) => {
  const goCfg = join(base, 'mine.cfg');
  writeFileSync(goCfg, 'frontend http-in\n{{ range $index, $app := .Apps }}  use_backend {{ $app.EscapedId }}\n{{ end }}\n');
  const cases = [
    { desc: "Bamboo's config/haproxy_template.cfg (absent here)", template: 'config/haproxy_template.cfg' },
    { desc: 'a .cfg of Go template syntax', template: goCfg },
  ];
  for (const c of cases) {
    const file = join(base, `bamboo-${culms.length}-${c.template.length}.json`);
    writeFileSync(file, JSON.stringify({ Marathon: { Endpoint: marathon.url }, HAProxy: { TemplatePath: c.template } }));
    const child = startChild(process.execPath, [MAIN], {
      PATH: process.env.PATH, CONFIG_PATH: file, BIND: `127.0.0.1:${await freePort()}`, CULM_DATA_DIR: join(base, 'data'),
    }, root);
    t.equal(await child.exited, 2, `${c.desc}: exit 2`);
    const lines = child.output().trim().split('\n');
    t.equal(lines.length, 1, `${c.desc}: one line`);
    t.match(lines[0], /^culm: config HAProxy\.TemplatePath \/ HAPROXY_TEMPLATE_PATH: .*culm renders Eta templates.*templates\/haproxy\.cfg\.eta/, `${c.desc}: what to do`);
    t.notMatch(lines[0], /ENOENT/);
  }
});
