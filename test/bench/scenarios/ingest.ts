/**
 * Scenario 5: callback events accepted per second by one culm process, without loss. The load generator
 * (this process, on the other core) writes pre-built status updates on keep-alive sockets to culm's callback
 * endpoint, with the callback token culm registered: pipelined (the figure), and one request at a time per
 * connection (for comparison). Lost = answered 200 but not counted in culm_marathon_events_total.
 */
import { spawn } from 'node:child_process';
import { freePort } from '../../helpers/net.js';
import { load, postRequest } from '../load.js';
import { procStats } from '../proc.js';
import { profilePhase, setUp } from './common.js';

const TOKEN = 'bench-token';

export async function ingest(events: number): Promise<Record<string, unknown>> {
  const apiPort = await freePort();
  const b = await setUp(100, 3, {
    CULM_EVENT_MODE: 'callback', BAMBOO_ENDPOINT: `http://127.0.0.1:${apiPort}`, CULM_CALLBACK_TOKEN: TOKEN,
  }, {}, { api: apiPort, frontend: await freePort() });
  try {
    const tasks = Array.from({ length: 100 }, (_, a) => b.marathon.tasksOf(`/app${a}`)).flat();
    const requests = tasks.map((t) => postRequest(`127.0.0.1:${apiPort}`, `/api/marathon/event_callback?token=${TOKEN}`, JSON.stringify({
      slaveId: 's1', taskId: t.id, taskStatus: 'TASK_RUNNING', message: '', appId: t.appId, host: t.host,
      ipAddresses: [{ ipAddress: t.host, protocol: 'IPv4' }], ports: t.ports, version: '2026-01-01T00:00:00.000Z',
      eventType: 'status_update_event', timestamp: new Date().toISOString(),
    })));
    const received = (): Promise<number> => b.culm.metric('culm_marathon_events_total{type="task"}');
    const pid = b.culm.child.proc.pid!;
    const run = async (total: number, connections: number, depth: number): Promise<Record<string, number | string>> => {
      const before = await received();
      const rendersBefore = await b.culm.metric('culm_render_duration_seconds_count');
      const cpu = procStats(pid).cpuSeconds;
      const r = await load({ port: apiPort, requests, total, connections, depth });
      const culmCpu = procStats(pid).cpuSeconds - cpu;
      const counted = (await received()) - before;
      const renders = (await b.culm.metric('culm_render_duration_seconds_count')) - rendersBefore;
      const ok = r.statuses['200'] ?? 0;
      return {
        connections, depth, events: total, seconds: r.seconds, eventsPerSecond: ok / r.seconds,
        // The capacity of one core: events per CPU second culm spent (independent of what else runs).
        eventsPerCulmCpuSecond: culmCpu > 0 ? ok / culmCpu : 0,
        answered200: ok, failed: r.sent - ok + r.socketErrors, lost: ok - counted, renders,
      };
    };
    await run(Math.min(5000, events / 4), 8, 8); // warm-up: JIT, connection set-up
    profilePhase(b, 'ingest');
    const pipelined = await run(events, ...PIPELINED);
    const oneAtATime = await run(Math.floor(events / 2), ...ONE_AT_A_TIME);
    profilePhase(b, 'end');
    return { pipelined, oneAtATime, nodeHttpFloor: await floor(requests, events) };
  } finally {
    await b.close();
  }
}

const PIPELINED = [8, 16] as const;
const ONE_AT_A_TIME = [32, 1] as const;

/** The same load on a bare node:http server (http-floor.mjs): what node itself manages on this machine. */
async function floor(requests: readonly Buffer[], events: number): Promise<Record<string, Record<string, number>>> {
  const port = await freePort();
  const child = spawn(process.execPath, [new URL('../http-floor.mjs', import.meta.url).pathname, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`http-floor exited ${code}`)));
    });
    const run = async (total: number, connections: number, depth: number): Promise<Record<string, number>> => {
      const cpu = procStats(child.pid!).cpuSeconds;
      const r = await load({ port, requests, total, connections, depth });
      const ok = r.statuses['200'] ?? 0;
      return { eventsPerSecond: ok / r.seconds, eventsPerCpuSecond: ok / Math.max(0.01, procStats(child.pid!).cpuSeconds - cpu) };
    };
    await run(Math.min(5000, events / 4), 8, 8);
    return { pipelined: await run(events, ...PIPELINED), oneAtATime: await run(Math.floor(events / 2), ...ONE_AT_A_TIME) };
  } finally {
    child.kill('SIGTERM');
  }
}
