/** The live stream's framing, bounds and keep-alives, and the cluster diff that feeds it. */
import { mock } from 'node:test';
import t from 'tap';
import { CulmError } from '../../src/core/errors.js';
import { clusterChanges, EventBus, TouchedApps, type LiveEvent } from '../../src/pipeline/event-bus.js';
import { frameEvent, KEEPALIVE_FRAME, LiveStreams, type StreamSink } from '../../src/http/live-stream.js';
import { app, stateOf, task, tasks } from '../helpers/builders.js';

/** A client that takes `reads` bytes (everything when undefined) of what it is sent. */
class Client implements StreamSink {
  text = '';
  dropped = false;
  constructor(private readonly reads?: number) {}
  write(chunk: string): void {
    this.text += chunk;
  }
  buffered(): number {
    return this.reads === undefined ? 0 : Math.max(0, this.text.length - this.reads);
  }
  drop(): void {
    this.dropped = true;
  }
  /** The events received, parsed back from the framing as an EventSource would. */
  events(): Array<{ id: string; event: string; data: unknown }> {
    return this.text.split('\n\n').filter((block) => block.includes('data: ')).map((block) => {
      const field = (name: string): string => block.split('\n').find((l) => l.startsWith(`${name}: `))!.slice(name.length + 2);
      return { id: field('id'), event: field('event'), data: JSON.parse(field('data')) as unknown };
    });
  }
}

const ruleEvent = (id: string): LiveEvent => ({
  type: 'rule',
  data: { kind: 'rule', at: 1, result: 'changed', action: 'set', id, appId: id, who: 'anonymous', from: '127.0.0.1', before: null, after: { Id: id, Acl: 'path_beg /x\nor', Config: {} }, status: 200, reasons: ['set'], durationMs: 1 },
});

const setup = (limits = { maxStreams: 2, maxBuffered: 1000, keepaliveMs: 15_000 }): { bus: EventBus; streams: LiveStreams } => {
  const bus = new EventBus();
  return { bus, streams: new LiveStreams((l) => bus.subscribe(l), limits) };
};

t.test('framing: id, event, one data line of JSON, a blank line; newlines inside values stay escaped', async (t) => {
  const frame = frameEvent(7, ruleEvent('/web'));
  t.match(frame, /^id: 7\nevent: rule\ndata: [^\n]+\n\n$/);
  t.equal((JSON.parse(frame.split('\n')[2].slice(6)) as { appId: string }).appId, '/web');
});

t.test('every open stream gets each event, with increasing ids', async (t) => {
  const { bus, streams } = setup();
  const a = new Client();
  const b = new Client();
  streams.add(a);
  streams.add(b);
  bus.publish(ruleEvent('/a'));
  bus.publish(ruleEvent('/b'));
  for (const c of [a, b]) {
    t.same(c.events().map((e) => [e.id, e.event, (e.data as { appId: string }).appId]), [['1', 'rule', '/a'], ['2', 'rule', '/b']]);
  }
});

t.test('a client that does not read is dropped once its buffer is full; the others go on', async (t) => {
  const { bus, streams } = setup({ maxStreams: 4, maxBuffered: 1000, keepaliveMs: 15_000 });
  const slow = new Client(0);
  const fast = new Client();
  streams.add(slow);
  streams.add(fast);
  let sent = 0;
  while (!slow.dropped && sent < 100) {
    bus.publish(ruleEvent(`/app-${sent}`));
    sent++;
  }
  t.ok(slow.dropped, `dropped after ${sent} events`);
  t.ok(slow.text.length <= 1000, `it was sent ${slow.text.length} bytes, no more than the bound`);
  bus.publish(ruleEvent('/after'));
  t.equal(fast.events().at(-1)?.data && (fast.events().at(-1)!.data as { appId: string }).appId, '/after');
  t.same(streams.stats(), { open: 1, dropped: 1 });
});

t.test('beyond the cap a stream is refused with a 429; a closed one frees its place', async (t) => {
  const { streams } = setup();
  const removeFirst = streams.add(new Client());
  streams.add(new Client());
  const refused = t.throws(() => streams.add(new Client())) as CulmError;
  t.equal(refused.code, 'E_TOO_MANY_STREAMS');
  t.equal(refused.status, 429);
  removeFirst();
  t.doesNotThrow(() => streams.add(new Client()));
});

t.test('the bus is followed only while a stream is open', async (t) => {
  const { bus, streams } = setup();
  t.notOk(bus.listening());
  const remove = streams.add(new Client());
  t.ok(bus.listening());
  remove();
  t.notOk(bus.listening(), 'the daemon computes no events for nobody');
});

t.test('closeAll drops every stream', async (t) => {
  const { streams } = setup();
  const clients = [new Client(), new Client()];
  for (const c of clients) streams.add(c);
  streams.closeAll();
  t.same(clients.map((c) => c.dropped), [true, true]);
  t.equal(streams.stats().open, 0);
});

t.test('a keep-alive comment every keepaliveMs, while streams are open', async (t) => {
  mock.timers.enable({ apis: ['setInterval'] });
  t.teardown(() => mock.timers.reset());
  const { streams } = setup();
  const c = new Client();
  const remove = streams.add(c);
  mock.timers.tick(15_000 * 2);
  t.equal(c.text.split(KEEPALIVE_FRAME).length - 1, 2);
  remove();
  mock.timers.tick(15_000);
  t.equal(c.text.split(KEEPALIVE_FRAME).length - 1, 2, 'no timer left once the last stream is gone');
});

t.test('a culm without a bus answers 404', async (t) => {
  const err = t.throws(() => new LiveStreams(undefined).add(new Client())) as CulmError;
  t.equal(err.code, 'E_NOT_FOUND');
});

t.test('clusterChanges: app and task events with their app id', async (t) => {
  const t1 = task(31001, { id: 'web.1' });
  const before = stateOf(app('/web', tasks(t1)), app('/gone'));
  const web = before.apps.get('/web')!;
  const after = new Map(before.apps);
  after.delete('/gone');
  after.set('/web', { ...web, tasks: { 'web.1': { ...web.tasks['web.1'], healthy: false }, 'web.2': { ...web.tasks['web.1'], id: 'web.2' } } });
  after.set('/new', app('/new'));
  const events = clusterChanges(before.apps, after);
  const summary = events.map((e) => `${e.type} ${'appId' in e.data ? e.data.appId : ''} ${'taskId' in e.data ? e.data.taskId : ''} ${'change' in e.data ? e.data.change : ''}`.trim());
  t.same(summary.sort(), [
    'app /gone  removed', 'app /new  added', 'app /web  changed', 'task /web web.1 changed', 'task /web web.2 added',
  ].sort());
  t.same(clusterChanges(before.apps, before.apps), [], 'the same apps: no events');
});

t.test('clusterChanges: past the limit, one resync event with counts', async (t) => {
  const many = stateOf(...Array.from({ length: 30 }, (_, i) => app(`/a${i}`, tasks(task(30000 + i)))));
  const events = clusterChanges(new Map(), many.apps, 10);
  t.equal(events.length, 1);
  const e = events[0];
  t.equal(e.type, 'resync');
  if (e.type === 'resync') {
    t.equal(e.data.apps, 30);
    t.equal(e.data.tasks, 30);
    t.equal(e.data.appIds.length, 30);
  }
});

t.test('TouchedApps: sorted, bounded, cleared by take', async (t) => {
  const touched = new TouchedApps();
  touched.add(['/b', '/a', '/b']);
  t.same(touched.take(), { appIds: ['/a', '/b'], more: 0 });
  t.same(touched.take(), { appIds: [], more: 0 });
  touched.add(Array.from({ length: 150 }, (_, i) => `/x${i}`));
  const { appIds, more } = touched.take();
  t.equal(appIds.length + more, 150);
  t.ok(more > 0);
});

t.test('a subscriber that throws is removed; the others still get the event', async (t) => {
  const bus = new EventBus();
  const got: string[] = [];
  bus.subscribe(() => {
    throw new Error('broken socket');
  });
  bus.subscribe((e) => got.push(e.type));
  bus.publish(ruleEvent('/a'));
  bus.publish(ruleEvent('/b'));
  t.same(got, ['rule', 'rule']);
});
