/**
 * Scenario "zerodrop" (issue 10, reloads): `reloads` rule changes, each forcing a reload, under ~200 req/s over
 * keep-alive (idle connections reused) and new connections; failed requests counted. Run twice in the same run:
 * culm's default reload (`-x` + `-sf`, server-state-file, idle-close-on-response) and Bamboo's plain `-sf` command.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MarathonEmulator } from '../../helpers/marathon-emulator.js';
import { startCulm } from '../../helpers/culm.js';
import { startBackend } from '../../helpers/net.js';
import { load, putRule, reloads as reloadCount } from '../../helpers/reload-load.js';
import { sleep, timeUntil } from './common.js';

const RELOAD_INTERVAL_MS = 300;
const RATE = 200;

async function once(reloads: number, reloadCommand?: (outputPath: string) => string): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'culm-zerodrop-'));
  const env: Record<string, string> = reloadCommand ? { HAPROXY_RELOAD_CMD: reloadCommand(join(dir, 'haproxy.cfg')) } : {};
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  const backends = await Promise.all([startBackend(), startBackend(), startBackend()]);
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backends[0].port });
  marathon.addTask('/web', { port: backends[1].port });
  marathon.addApp({ id: '/other' });
  marathon.addTask('/other', { port: backends[2].port });
  const culm = await startCulm({ marathon: marathon.url, dir, env: { CULM_EVENT_MODE: 'sse', CULM_RELOAD_INTERVAL_MS: String(RELOAD_INTERVAL_MS), ...env } });
  try {
    await culm.waitReady();
    const before = await reloadCount(culm);
    const traffic = load(`${culm.frontend}/web`, RATE);
    await sleep(500);
    for (let i = 0; i < reloads; i++) {
      await putRule(culm, 'other', i);
      await timeUntil(async () => (await reloadCount(culm)) >= before + i + 1, 5000, 20).catch((err: unknown) => {
        throw new Error(`reload ${i + 1} not counted: ${String(err)}\n${culm.child.output().slice(-1500)}`);
      });
      await sleep(RELOAD_INTERVAL_MS + 50);
    }
    await sleep(500);
    await traffic.stop();
    return { reloads: (await reloadCount(culm)) - before, ok: traffic.ok, failed: traffic.failed, errors: Object.fromEntries(traffic.errors) };
  } finally {
    await culm.destroy();
    await marathon.stop();
    await Promise.all(backends.map((b) => b.close()));
  }
}

export async function zerodrop(reloads: number): Promise<Record<string, unknown>> {
  const culm = await once(reloads);
  // Bamboo's default reload command, on culm's pid file (so the supervisor finds it).
  const bamboo = await once(reloads, (out) => `haproxy -f ${out} -p ${out}.pid -D -sf $(cat ${out}.pid 2>/dev/null)`);
  return { rate: RATE, culm, bambooSf: bamboo };
}
