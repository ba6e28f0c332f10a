/**
 * runCommand's timeout when the command does not end at its SIGKILL (a process in uninterruptible sleep on a hung
 * mount never exits): the kill is injected here and does nothing, standing in for a process the kernel will not
 * end; the result still comes, as a timeout, a grace period after the kill.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { childrenCpuMs, limitFailure, limitHit, runCommand, startPastCheckLimit, type CommandResult } from '../../src/haproxy/command.js';

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

const result = (o: Partial<CommandResult>): CommandResult => ({ code: 1, signal: null, stdout: '', stderr: '', timedOut: false, ms: 1200, ...o });
const limits = { cpuSeconds: 3, memoryMiB: 256 };

t.test('a check stopped at a limit says which, and the setting that raises it', async (t) => {
  const table: Array<[string, Partial<CommandResult>, string | undefined, RegExp | undefined]> = [
    ['at the time limit', { code: null, signal: 'SIGKILL', timedOut: true, ms: 30_004 }, 'E_VALIDATION_TIMEOUT',
      /^validation timed out after 30004 ms: stopped at its time limit of 30000 ms \(HAProxy\.CommandTimeoutMs \/ CULM_COMMAND_TIMEOUT_MS raises it\)$/],
    ['at the CPU-time limit (SIGXCPU)', { code: null, signal: 'SIGXCPU' }, 'E_VALIDATION_LIMIT',
      /^validation exceeded its CPU-time limit of 3 s and was stopped \(HAProxy\.ValidationCpuSeconds \/ CULM_VALIDATION_CPU_SECONDS raises it\)$/],
    ['at the CPU-time limit (the shell\'s exit 152)', { code: 152 }, 'E_VALIDATION_LIMIT', /CPU-time limit of 3 s .*ValidationCpuSeconds/],
    ['out of memory, as HAProxy says it', { stderr: "[ALERT]    (1) : (null)parsing [x.cfg:38554] : proxy 'b9273': out of memory\n" }, 'E_VALIDATION_LIMIT',
      /^validation exceeded its memory limit of 256 MiB and was stopped \(HAProxy\.ValidationMemoryMiB \/ CULM_VALIDATION_MEMORY_MIB raises it\)$/],
    ['out of memory with nothing but (null) where the messages were', { stderr: '(null)haproxy version is 2.6.12\n(null)(null)[ALERT]    (1) : config : Error(s) found in configuration file : x.cfg\n' }, 'E_VALIDATION_LIMIT', /memory limit of 256 MiB/],
    ['out of memory before HAProxy runs (the loader)', { code: 127, stderr: 'haproxy: error while loading shared libraries: liblua5.3.so.0: failed to map segment from shared object\n' }, 'E_VALIDATION_LIMIT', /memory limit/],
    ['killed by a signal culm did not send', { code: null, signal: 'SIGKILL' }, 'E_VALIDATION_TIMEOUT',
      /^validation was killed by SIGKILL before it ended, not by culm \(the host's out-of-memory killer\?\); its own memory limit of 256 MiB \(HAProxy\.ValidationMemoryMiB/],
    ['HAProxy refuses the config: its verdict, no limit', { stderr: "[ALERT]    (1) : config : parsing [x.cfg:3] : unknown keyword 'nope'\n" }, undefined, undefined],
  ];
  for (const [desc, r, code, message] of table) {
    const got = limitFailure('validation', result(r), limits, 30_000);
    if (code === undefined) t.equal(got, undefined, desc);
    else t.match(got, { code, message }, desc);
  }
  t.equal(limitHit(result({ stderr: 'out of memory' }), { cpuSeconds: 3, memoryMiB: 0 }), undefined, 'no memory limit: an allocation failure is not the limit');
  t.match(limitFailure('validation', result({ code: null, signal: 'SIGKILL' }), { cpuSeconds: 0, memoryMiB: 0 }, 1000)?.message, /no memory limit of its own \(HAProxy\.ValidationMemoryMiB \/ CULM_VALIDATION_MEMORY_MIB is 0\)/);
});

t.test('an unchecked first start past the check\'s CPU-time limit: what to raise', async (t) => {
  t.equal(startPastCheckLimit(2900, limits), '', 'within the limit: nothing to say');
  t.equal(startPastCheckLimit(50_000, { cpuSeconds: 0, memoryMiB: 256 }), '', 'no CPU-time limit: nothing to say');
  t.match(startPastCheckLimit(4200, limits), /^HAProxy's first start, run without a check, used 4\.2 s of CPU, more than the check's CPU-time limit of 3 s: .*raise HAProxy\.ValidationCpuSeconds \/ CULM_VALIDATION_CPU_SECONDS$/);
});

t.test('childrenCpuMs: the CPU time of children that ended grows by what one used', async (t) => {
  const before = childrenCpuMs();
  if (before === undefined) {
    t.comment('no /proc: nothing to measure');
    return;
  }
  execFileSync('sh', ['-c', 'i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done']);
  t.ok(childrenCpuMs()! - before >= 10, 'a shell that counted to 400,000 shows');
});
