/**
 * Scenario 5: callback events accepted per second by one culm process, without loss. A load generator (this
 * process, on the other core) POSTs status updates over keep-alive connections to culm's callback endpoint.
 */
import { Pool } from 'undici';
import { freePort } from '../../helpers/net.js';
import { setUp } from './common.js';

export async function ingest(events: number, connections: number): Promise<Record<string, unknown>> {
  const apiPort = await freePort();
  const b = await setUp(100, 3, { CULM_EVENT_MODE: 'callback', BAMBOO_ENDPOINT: `http://127.0.0.1:${apiPort}` }, {}, { api: apiPort, frontend: await freePort() });
  try {
    const tasks = Array.from({ length: 100 }, (_, a) => b.marathon.tasksOf(`/app${a}`)).flat();
    const bodies = tasks.map((t) => JSON.stringify({
      slaveId: 's1', taskId: t.id, taskStatus: 'TASK_RUNNING', message: '', appId: t.appId, host: t.host,
      ipAddresses: [{ ipAddress: t.host, protocol: 'IPv4' }], ports: t.ports, version: '2026-01-01T00:00:00.000Z',
      eventType: 'status_update_event', timestamp: new Date().toISOString(),
    }));
    const received = (): Promise<number> => b.culm.metric('culm_marathon_events_total{type="task"}');
    const before = await received();
    const pool = new Pool(b.culm.api, { connections, pipelining: 1 });
    let next = 0;
    let ok = 0;
    let failed = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: connections }, async () => {
      while (next < events) {
        const body = bodies[next++ % bodies.length];
        try {
          const res = await pool.request({ method: 'POST', path: '/api/marathon/event_callback', body, headers: { 'content-type': 'application/json' } });
          await res.body.dump();
          if (res.statusCode === 200) ok++;
          else failed++;
        } catch {
          failed++;
        }
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    await pool.close();
    const counted = (await received()) - before;
    return { events, connections, seconds, eventsPerSecond: ok / seconds, answered200: ok, failed, countedByCulm: counted, lost: ok - counted };
  } finally {
    await b.close();
  }
}
