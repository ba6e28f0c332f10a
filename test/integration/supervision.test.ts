/**
 * Issue 10, "HAProxy is supervised", against the real culm binary, the emulator and real HAProxy 2.6: `kill -9`
 * of the HAProxy culm started (its pid from `<outputPath>.pid`; nothing else is killed) → culm notices, starts it
 * again from the last applied config, counts it, and `/readyz` says so while it is down. A reload's old process
 * exiting on its own is no death. A hung HAProxy (`kill -STOP`: alive, its ports and socket open, no answer) is
 * killed and started again.
 */
import t from 'tap';
import type { Test } from 'tap';
import { readFileSync } from 'node:fs';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, get, startBackend, whoAnswers, type Backend } from '../helpers/net.js';
import { isAlive } from '../helpers/processes.js';

let marathon: MarathonEmulator;
let culm: CulmInstance;
const backends: Backend[] = [];

t.before(async () => {
  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  for (let i = 0; i < 3; i++) backends.push(await startBackend());
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backends[0].port });
  culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse' } });
  await culm.waitReady();
});

/** Pids this test stopped with SIGSTOP: killed in teardown if still there. */
const stopped: number[] = [];

t.teardown(async () => {
  for (const pid of stopped) {
    if (!isAlive(pid)) continue;
    process.kill(pid, 'SIGCONT');
    process.kill(pid, 'SIGKILL');
  }
  await culm?.destroy();
  await marathon?.stop();
  await Promise.all(backends.map((b) => b.close()));
});

const pidOf = (): number => Number(readFileSync(`${culm.outputPath}.pid`, 'utf8').trim().split(/\s+/)[0]);
const serving = async (): Promise<boolean> => (await get(`${culm.frontend}/web`)).status === 200;

async function killAndTime(t: Test, round: number): Promise<number> {
  const pid = pidOf();
  t.ok(culm.haproxy.seen.has(pid) || culm.haproxy.poll().includes(pid), 'the pid is the one this test\'s culm started');
  const restartsBefore = await culm.metric('culm_haproxy_restarts_total');
  const killedAt = performance.now();
  process.kill(pid, 'SIGKILL');
  let sawNotReady = false;
  let readyDetail = '';
  const ms = await eventually('served again', async () => {
    const ready = await fetch(`${culm.api}/readyz`).catch(() => null);
    if (ready && ready.status !== 200) {
      sawNotReady = true;
      readyDetail = await ready.text();
    }
    return serving();
  }, 5000, 10);
  const servedMs = Math.round(performance.now() - killedAt);
  t.comment(`round ${round}: kill -9 → serving again in ${servedMs} ms`);
  // A liveness bound (the restart happened, by culm, well inside the wait), not a speed target: that is the
  // bench's \`kill -9\` figure (npm run bench -- --only zerodrop). 1 s failed on a loaded CI machine.
  t.ok(servedMs < 4000, `served again after the kill (${servedMs} ms)`);
  t.ok(ms >= 0);
  t.ok(sawNotReady, '/readyz was not ready while HAProxy was down');
  t.match(readyDetail, /"haproxy":\{"ok":false,"detail":"not running/, `the haproxy check says why (${readyDetail.slice(0, 160)})`);
  t.not(pidOf(), pid, 'a new HAProxy');
  t.notOk(isAlive(pid), 'the killed one is gone');
  await eventually('counted', async () => (await culm.metric('culm_haproxy_restarts_total')) === restartsBefore + 1, 2000);
  await eventually('ready again', async () => (await fetch(`${culm.api}/readyz`)).status === 200, 2000);
  return servedMs;
}

t.test('kill -9 of HAProxy: served again from the last config, counted, /readyz reflects it', async (t) => {
  const before = culm.config();
  await killAndTime(t, 1);
  t.equal(culm.config(), before, 'started from the last applied config');
  t.match(culm.child.output(), 'HAProxy is not running: starting it again', 'logged');
  // Still managed as before: a new task, then another kill.
  marathon.addTask('/web', { port: backends[1].port });
  await eventually('a new task serves after the restart', async () => (await whoAnswers(`${culm.frontend}/web`, 4)).has(String(backends[1].port)), 5000);
  await killAndTime(t, 2);
  t.same(await whoAnswers(`${culm.frontend}/web`, 6), new Set([String(backends[0].port), String(backends[1].port)]), 'both tasks served by the restarted HAProxy');
});

t.test('reloads (the old process exits after -sf) are not taken for deaths', async (t) => {
  const restarts = await culm.metric('culm_haproxy_restarts_total');
  for (let i = 0; i < 4; i++) {
    marathon.addApp({ id: `/r${i}` });
    marathon.addTask(`/r${i}`, { port: backends[2].port });
    await eventually(`/r${i} serves`, async () => (await get(`${culm.frontend}/r${i}`)).status === 200, 5000);
  }
  await new Promise((r) => setTimeout(r, 600));
  t.equal(await culm.metric('culm_haproxy_restarts_total'), restarts, 'no restart');
  t.equal((await fetch(`${culm.api}/readyz`)).status, 200);
});

t.test('hung (kill -STOP): culm kills it (kill -9) and starts HAProxy again; counted and logged', async (t) => {
  const pid = pidOf();
  t.ok(culm.haproxy.seen.has(pid) || culm.haproxy.poll().includes(pid), 'the pid is the one this test\'s culm started');
  const restartsBefore = await culm.metric('culm_haproxy_restarts_total');
  stopped.push(pid);
  process.kill(pid, 'SIGSTOP');
  // Asked for half a second only: culm takes a hang for one after HANG_PROBES unanswered probes of 1 s each, and
  // a request still waiting when the new HAProxy binds is served by it (failed so once in CI with 3 s).
  const stoppedAnswer = await fetch(`${culm.frontend}/web`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(500) }).then((r) => r.status, () => 0);
  t.not(stoppedAnswer, 200, 'a stopped HAProxy serves nothing');
  await eventually('served again by a new HAProxy', async () => pidOf() !== pid && await serving(), 15_000, 50);
  await eventually('the stopped one was killed', () => !isAlive(pid), 5000);
  // Counted when the restart returns, a moment after the new HAProxy serves (failed so once in CI).
  await eventually('counted', async () => (await culm.metric('culm_haproxy_restarts_total')) === restartsBefore + 1, 3000);
  t.equal(await culm.metric('culm_haproxy_restarts_total'), restartsBefore + 1, 'counted once');
  t.match(culm.child.output(), 'does not answer on its stats socket (hung): killing it', 'logged');
  await eventually('ready again', async () => (await fetch(`${culm.api}/readyz`)).status === 200, 3000);
  t.same(await whoAnswers(`${culm.frontend}/web`, 6), new Set([String(backends[0].port), String(backends[1].port)]), 'both tasks served');
});
