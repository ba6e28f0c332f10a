/**
 * Callback mode against a Marathon 1.4 emulator, and `auto` choosing the event stream where callbacks do
 * not exist (1.4 without http_callback, 1.5+).
 */
import t from 'tap';
import { MarathonEmulator, type MarathonVersion } from '../helpers/marathon-emulator.js';
import { startCulm } from '../helpers/culm.js';
import { eventually, freePort, whoAnswers, startBackend } from '../helpers/net.js';

t.test('Marathon 1.4 with http_callback: subscription, events by callback, own URL removed on SIGTERM', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.4', httpEndpoints: ['http://other-subscriber.example:9/cb'] });
  const a = await startBackend();
  const b = await startBackend();
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: a.port });
  const apiPort = await freePort();
  const culm = await startCulm({
    marathon: marathon.url,
    ports: { api: apiPort, frontend: await freePort() },
    env: { BAMBOO_ENDPOINT: `http://127.0.0.1:${apiPort}`, CULM_EVENT_MODE: 'auto' },
  });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await a.close();
    await b.close();
  });
  await culm.waitReady();
  // Without CULM_CALLBACK_TOKEN culm made a secret of its own: the URL carries it.
  const callbackUrl = marathon.subscriptions.find((u) => u.startsWith(`http://127.0.0.1:${apiPort}/api/marathon/event_callback?token=`)) ?? '';
  t.ok(callbackUrl, 'culm registered its callback URL, with a secret');
  t.equal(marathon.sseClients(), 0, 'no event stream in callback mode');
  const ready = await culm.json<{ checks: { events: { detail: string } } }>('/readyz');
  t.match(ready.body.checks.events.detail, /callback .* registered/);

  marathon.addTask('/web', { port: b.port });
  await eventually('callback-delivered task serves', async () => (await whoAnswers(`${culm.frontend}/web`, 4)).has(String(b.port)));
  t.ok(marathon.deliveries.some((d) => d.url === callbackUrl && d.outcome === 'ok'), 'Marathon delivered to culm');

  const code = await culm.stop();
  t.equal(code, 0, 'graceful stop exits 0');
  t.notOk(marathon.subscriptions.includes(callbackUrl), 'its own subscription was removed');
  t.ok(marathon.subscriptions.includes('http://other-subscriber.example:9/cb'), 'another subscriber is untouched');
  t.same(await whoAnswers(`${culm.frontend}/web`, 4), new Set([String(a.port), String(b.port)]), 'HAProxy keeps serving after culm stops');
});

t.test('a subscription Marathon lost is registered again (with its token); POSTs without the token are hints', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.4' });
  const apiPort = await freePort();
  const culm = await startCulm({
    marathon: marathon.url,
    ports: { api: apiPort, frontend: await freePort() },
    env: { BAMBOO_ENDPOINT: `http://127.0.0.1:${apiPort}`, CULM_EVENT_MODE: 'callback', CULM_SUBSCRIPTION_CHECK_MS: '300', CULM_CALLBACK_TOKEN: 's3cr3t' },
  });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
  });
  await culm.waitReady();
  const url = `http://127.0.0.1:${apiPort}/api/marathon/event_callback?token=s3cr3t`;
  t.ok(marathon.subscriptions.includes(url), 'registered with the token');
  const forged = await culm.json('/api/marathon/event_callback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"eventType":"app_terminated_event","appId":"/x"}' });
  t.same([forged.status, (forged.body as { kind: string }).kind], [200, 'hint'], 'answered 200 (Marathon must not back off), as a hint');
  t.notMatch(culm.child.output(), 's3cr3t', 'the token never reaches the logs');
  await fetch(`${marathon.url}/v2/eventSubscriptions?callbackUrl=${encodeURIComponent(url)}`, { method: 'DELETE' });
  t.notOk(marathon.subscriptions.includes(url));
  await eventually('re-registered', () => marathon.subscriptions.includes(url), 5000);
  t.pass('culm noticed and registered again');
});

const sseCases: Array<{ desc: string; version: MarathonVersion; callbacksEnabled?: boolean }> = [
  { desc: 'auto on Marathon 1.4 without http_callback (400) reads the event stream', version: '1.4', callbacksEnabled: false },
  { desc: 'auto on Marathon 1.5 (404) reads the event stream', version: '1.5' },
];
for (const c of sseCases) {
  t.test(c.desc, async (t) => {
    const marathon = await MarathonEmulator.start({ version: c.version, callbacksEnabled: c.callbacksEnabled, keepaliveMs: 500 });
    const a = await startBackend();
    marathon.addApp({ id: '/svc' });
    const apiPort = await freePort();
    const culm = await startCulm({
      marathon: marathon.url,
      ports: { api: apiPort, frontend: await freePort() },
      env: { BAMBOO_ENDPOINT: `http://127.0.0.1:${apiPort}` },
    });
    t.teardown(async () => {
      await culm.destroy();
      await marathon.stop();
      await a.close();
    });
    await culm.waitReady();
    await eventually('stream attached', () => marathon.sseClients() === 1, 5000);
    marathon.addTask('/svc', { port: a.port });
    await eventually('task via SSE serves', async () => (await whoAnswers(`${culm.frontend}/svc`, 2)).has(String(a.port)));
    const sse = marathon.requests.find((r) => r.path === '/v2/events');
    t.equal(sse?.headers.accept, 'text/event-stream', 'exact Accept header');
  });
}
