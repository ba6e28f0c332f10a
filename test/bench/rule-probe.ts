/** Ad-hoc: where the time from a rule PUT to routed goes at 1,000 apps (not part of the suite). */
import { request } from 'undici';
import { setUp, sleep, getJson, profiling, profilePhase } from './scenarios/common.js';
if (process.env.PROF) profiling.dir = process.env.PROF;

const b = await setUp(1000, 3, {}, { healthChecks: [{ protocol: 'HTTP', path: '/' }] });
try {
  const rows: string[] = [];
  await sleep(2000);
  profilePhase(b, 'rules');
  for (let i = 0; i < Number(process.env.N ?? 25); i++) {
    if (process.env.WITH_RELOAD) { b.marathon.addApp({ id: `/fresh${i}` }); b.marathon.addTask(`/fresh${i}`, { port: b.pool[6].port }); }
    await sleep(process.env.WITH_RELOAD ? 1100 : 300);
    const t0 = performance.now();
    const res = await request(`${b.culm.api}/api/services/app${i}`, { method: 'PUT', body: JSON.stringify({ acl: `path_beg -i /rule${i}` }) });
    await res.body.text();
    const putMs = performance.now() - t0;
    let routed = 0;
    while (!routed) {
      const r = await request(`${b.culm.frontend}/rule${i}`, { headers: { connection: 'close' } });
      await r.body.text();
      if (r.statusCode === 200) routed = performance.now() - t0;
    }
    const h = await getJson<Array<Record<string, unknown>>>(`${b.culm.api}/api/history`);
    const last = h.find((x) => JSON.stringify(x.reasons).includes(`/app${i}`));
    rows.push(`${i}\tput ${putMs.toFixed(1)}\trouted ${routed.toFixed(1)}\tapply ${last?.durationMs} runtime ${last?.runtimeMs} mode ${last?.mode}`);
  }
  console.log(rows.join('\n'));
} finally {
  await b.close();
}
