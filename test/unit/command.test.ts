/**
 * runCommand's timeout when the command does not end at its SIGKILL (a process in uninterruptible sleep on a hung
 * mount never exits): the kill is injected here and does nothing, standing in for a process the kernel will not
 * end; the result still comes, as a timeout, a grace period after the kill.
 */
import t from 'tap';
import { runCommand } from '../../src/haproxy/command.js';

t.test('a command that outlives its SIGKILL: the result is a timeout all the same', async (t) => {
  const kills: Array<[number, NodeJS.Signals]> = [];
  t.teardown(() => {
    for (const [pid] of kills) {
      try {
        process.kill(pid, 'SIGKILL'); // the group culm gave up on: ended here by hand
      } catch {
        /* gone */
      }
    }
  });
  const r = await runCommand('exec sleep 30', 100, undefined, { kill: (pid, signal) => void kills.push([pid, signal]), killGraceMs: 100 });
  t.equal(r.timedOut, true, 'timed out');
  t.equal(kills.length, 1, 'killed once');
  t.ok(kills[0][0] < 0 && kills[0][1] === 'SIGKILL', 'its whole process group, with SIGKILL');
  t.equal(r.code, null, 'no exit code: it never exited');
});

t.test('a command that ends at its SIGKILL: the result as before', async (t) => {
  const r = await runCommand('exec sleep 30', 100);
  t.equal(r.timedOut, true);
  t.equal(r.signal, 'SIGKILL', 'its own end, seen on exit');
});
