/**
 * LingeringServers' timing against a stand-in for HAProxy's CLI on a unix socket (the real HAProxy is in
 * test/integration/runtime-commands.test.ts): deletion rounds keep happening while new lingering servers
 * keep coming, and a round that meets a change in flight runs soon after it.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LingeringServers } from '../../src/haproxy/lingering.js';
import { silentLogger } from '../../src/log/logger.js';
import { FakeClock } from '../helpers/fake-clock.js';

/** Answers like HAProxy's interactive CLI: every `del server` succeeds. Counts sessions. */
async function fakeCli(): Promise<{ path: string; sessions: () => number; deleted: string[]; close: () => void }> {
  const path = join(mkdtempSync(join(tmpdir(), 'culm-cli-')), 's.sock');
  let sessions = 0;
  const deleted: string[] = [];
  const server = createServer((sock) => {
    sessions++;
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'prompt') sock.write('\n> ');
        else if (line === 'quit') sock.end();
        else {
          deleted.push(line.replace('del server ', ''));
          sock.write('Server deleted.\n> ');
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, sessions: () => sessions, deleted, close: () => server.close() };
}

const line = (name: string) => ({ name, address: '10.0.0.1', port: 1, options: '' });

/**
 * Moves the fake clock on, then lets a deletion round it started finish talking to the socket (real I/O):
 * `exclusive` waits for the round in flight.
 */
async function advance(clock: FakeClock, lingering: LingeringServers, ms: number): Promise<void> {
  await clock.advance(ms);
  await lingering.exclusive(async () => undefined);
}

t.test('new lingering servers arriving faster than the first retry do not keep pushing the round back', async (t) => {
  const cli = await fakeCli();
  t.teardown(cli.close);
  const clock = new FakeClock();
  const lingering = new LingeringServers(cli.path, silentLogger(), { firstRetryMs: 150, maxRetryMs: 1000, timers: clock });
  for (let i = 0; i < 12; i++) {
    lingering.update([[`b/s${i}`, line(`s${i}`)]], []);
    await advance(clock, lingering, 60);
  }
  t.ok(cli.sessions() >= 2, `deletion rounds ran during the stream (${cli.sessions()})`);
  await advance(clock, lingering, 400);
  t.same(lingering.list(), [], 'all deleted once it stops');
  t.same(new Set(cli.deleted).size, 12);
});

t.test('a round that meets a change in flight runs soon after it, not a whole delay later', async (t) => {
  const cli = await fakeCli();
  t.teardown(cli.close);
  const clock = new FakeClock();
  const lingering = new LingeringServers(cli.path, silentLogger(), { firstRetryMs: 1000, maxRetryMs: 60_000, timers: clock });
  lingering.update([['b/a', line('a')]], []);
  const change = lingering.exclusive(() => clock.sleep(1100)); // the round comes due meanwhile
  await clock.advance(1100);
  await change;
  t.equal(cli.sessions(), 0, 'no round while the change is in flight');
  await advance(clock, lingering, 500);
  t.same(lingering.list(), [], 'deleted shortly after (not a whole second later)');
});
