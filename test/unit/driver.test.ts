/**
 * The HAProxy driver's file handling with shell commands standing in for HAProxy (the real HAProxy runs in
 * the integration tests): Bamboo's cleanup command after every reload attempt, the last good file put back
 * after a failed reload, and the runtime candidate that is renamed into place only once committed.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HaproxyDriver, isNoOpCommand } from '../../src/haproxy/driver.js';
import { silentLogger } from '../../src/log/logger.js';
import { CulmError } from '../../src/core/errors.js';

function setup(reloadCommand: string, cleanupCommand: string) {
  const dir = mkdtempSync(join(tmpdir(), 'culm-driver-'));
  const out = join(dir, 'haproxy.cfg');
  const driver = new HaproxyDriver({ outputPath: out, validationCommand: 'true', reloadCommand, cleanupCommand, commandTimeoutMs: 5000, log: silentLogger() });
  return { dir, out, driver };
}

t.test('the cleanup command runs after every reload attempt; a failed reload puts the last good file back', async (t) => {
  const marker = join(mkdtempSync(join(tmpdir(), 'culm-driver-')), 'cleanups');
  const flag = join(marker + '.fail');
  const { out, driver } = setup(`test ! -e ${flag}`, `echo x >> ${marker}`);
  t.ok(await driver.apply('one\n'));
  t.equal(readFileSync(marker, 'utf8'), 'x\n', 'cleanup after a successful reload');
  writeFileSync(flag, '');
  const err = await driver.apply('two\n').catch((e: unknown) => e);
  t.ok(err instanceof CulmError && err.code === 'E_RELOAD_FAILED', 'a failed reload is reported');
  t.equal(readFileSync(marker, 'utf8'), 'x\nx\n', 'cleanup after a failed reload too');
  t.equal(readFileSync(out, 'utf8'), 'one\n', 'the last good file is back');
  t.equal(driver.applied(), 'one\n');
});

t.test('a no-op cleanup command (Bamboo\'s default `exit 0`) starts no shell; anything else runs', async (t) => {
  for (const cmd of ['exit 0', 'true', ':', '', '  exit  ', 'exit 0;']) t.ok(isNoOpCommand(cmd), `"${cmd}" is a no-op`);
  for (const cmd of ['exit 1', 'true; touch x', 'exit 0 && rm x', 'truex', 'systemctl reload x']) t.notOk(isNoOpCommand(cmd), `"${cmd}" runs`);
  const marker = join(mkdtempSync(join(tmpdir(), 'culm-driver-')), 'ran');
  const { driver } = setup('true', `true; touch ${marker}`);
  await driver.apply('one\n');
  t.ok(existsSync(marker), 'a command that does something runs');
});

t.test('runtime candidate: written before the commands, in place only once committed, removed when discarded', async (t) => {
  const { dir, out, driver } = setup('true', 'exit 0');
  await driver.apply('old\n');
  const candidates = (): string[] => readdirSync(dir).filter((n) => n.endsWith('.candidate'));
  const c = await driver.prepareRuntime('new\n');
  t.equal(readFileSync(c.path, 'utf8'), 'new\n', 'the whole text is on disk before the commands are sent');
  t.equal(readFileSync(out, 'utf8'), 'old\n', 'the output is not changed yet');
  await driver.commitRuntime(c);
  t.equal(readFileSync(out, 'utf8'), 'new\n');
  t.equal(driver.applied(), 'new\n');
  t.same(candidates(), []);
  const d = await driver.prepareRuntime('newer\n');
  await driver.discard(d);
  t.same(candidates(), [], 'a discarded candidate is removed');
  t.equal(readFileSync(out, 'utf8'), 'new\n', 'and the output is unchanged');
  t.equal(driver.applied(), 'new\n');
});

t.test('after forgetApplied, the same text is reloaded (HAProxy may not run it after a half-done runtime change)', async (t) => {
  const marker = join(mkdtempSync(join(tmpdir(), 'culm-driver-')), 'reloads');
  const { driver } = setup(`echo x >> ${marker}`, 'exit 0');
  t.ok(await driver.apply('one\n'));
  t.equal(await driver.apply('one\n'), null, 'the same text: no reload');
  driver.forgetApplied();
  t.equal(driver.applied(), undefined, 'nothing to compute a runtime change against');
  t.equal(driver.lastApplied(), 'one\n', 'still shown');
  t.ok(await driver.apply('one\n'), 'reloaded');
  t.equal(readFileSync(marker, 'utf8'), 'x\nx\n');
  t.equal(driver.applied(), 'one\n');
});

t.test('candidate files of a culm that died are removed at start; a live one\'s, and other files, are kept', async (t) => {
  const { dir, driver } = setup('true', 'exit 0');
  const name = (pid: number | string, run = 'abcd1234'): string => join(dir, `.haproxy.cfg.${pid}-${run}.0badc0de.candidate`);
  // A pid that is surely not running: above the kernel's pid_max.
  const dead = name(99999999);
  const live = name(process.ppid);
  const samePidEarlierRun = name(process.pid, 'ffffffff');
  const otherOutput = join(dir, '.haproxy.cfg.staging.99999999-abcd1234.0badc0de.candidate');
  const oddName = join(dir, '.haproxy.cfg.x.candidate');
  for (const f of [dead, live, samePidEarlierRun, otherOutput, oddName]) writeFileSync(f, 'x');
  await driver.apply('one\n');
  t.notOk(existsSync(dead), 'a dead process\'s candidate is removed');
  t.notOk(existsSync(samePidEarlierRun), 'this pid\'s candidate from an earlier run (a restarted container) is removed');
  t.ok(existsSync(live), 'a running process\'s candidate is kept');
  t.ok(existsSync(otherOutput), 'another output\'s candidate is not touched');
  t.ok(existsSync(oddName), 'a name that is not exactly a candidate\'s is not touched');
});

t.test('validations run one at a time: a rule check and applies never overlap', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-driver-'));
  const log = join(dir, 'spans');
  // Each validation writes its start and end (ns) around a short sleep.
  const validationCommand = `echo "s $(date +%s%N)" >> ${log}; sleep 0.15; echo "e $(date +%s%N)" >> ${log}`;
  const driver = new HaproxyDriver({ outputPath: join(dir, 'haproxy.cfg'), validationCommand, reloadCommand: 'true', cleanupCommand: 'exit 0', commandTimeoutMs: 5000, log: silentLogger() });
  await Promise.all([driver.check('a\n'), driver.check('b\n'), driver.apply('c\n'), driver.check('d\n')]);
  const marks = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ')[0]);
  t.same(marks, ['s', 'e', 's', 'e', 's', 'e', 's', 'e'], 'each validation ends before the next starts');
});

t.test('a validation past its CPU-time limit is stopped and reported as E_VALIDATION_LIMIT, not as a bad config', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-driver-'));
  const driver = new HaproxyDriver({
    outputPath: join(dir, 'haproxy.cfg'), validationCommand: 'while :; do :; done', reloadCommand: 'true', cleanupCommand: 'exit 0',
    commandTimeoutMs: 20_000, validationLimits: { cpuSeconds: 1, memoryMiB: 0 }, log: silentLogger(),
  });
  const started = performance.now();
  const err = await driver.check('x\n').catch((e: unknown) => e);
  const ms = performance.now() - started;
  t.ok(err instanceof CulmError && err.code === 'E_VALIDATION_LIMIT', `stopped by the limit: ${String(err)}`);
  t.match((err as Error).message, 'CPU-time limit of 1 s');
  t.ok(ms < 5000, `cut off after ~1 s of CPU, long before the 20 s timeout (${Math.round(ms)} ms)`);
  t.same(readdirSync(dir).filter((f) => f.endsWith('.candidate')), [], 'its candidate is removed');
});

t.test('limits are soft ulimits in the validation command\'s own shell; the reload is not limited', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-driver-'));
  const seen = join(dir, 'limits');
  const driver = new HaproxyDriver({
    outputPath: join(dir, 'haproxy.cfg'), validationCommand: `echo "$(ulimit -S -t) $(ulimit -S -v)" >> ${seen}`,
    reloadCommand: `echo "$(ulimit -S -t) $(ulimit -S -v)" >> ${seen}`, cleanupCommand: 'exit 0',
    commandTimeoutMs: 5000, validationLimits: { cpuSeconds: 7, memoryMiB: 300 }, log: silentLogger(),
  });
  await driver.apply('x\n');
  const [validation, reload] = readFileSync(seen, 'utf8').trim().split('\n');
  t.equal(validation, `7 ${300 * 1024}`);
  t.not(reload, validation, 'the reload (which starts HAProxy) keeps culm\'s own limits');
});

t.test('a rule check waiting for its turn keeps its side file through an apply\'s prune', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-driver-'));
  const out = join(dir, 'haproxy.cfg');
  const map = `${out}.routes-0123abcd.map`;
  // The validation fails when the map the candidate names is missing, as HAProxy does.
  const validationCommand = `sleep 0.1; if grep -q routes- {{.}}; then test -e ${map}; fi`;
  const driver = new HaproxyDriver({ outputPath: out, validationCommand, reloadCommand: 'true', cleanupCommand: 'exit 0', commandTimeoutMs: 5000, log: silentLogger() });
  const apply = driver.apply('plain\n');
  const check = driver.check(`use_backend %[path,map_beg(${map})]\n`, [{ path: map, text: '/x b\n' }]);
  await apply;
  await check;
  t.pass('the check found its map after the apply pruned');
});

t.test('server states: saved from the socket before a reload; a socket that does not answer never blocks it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-state-'));
  const out = join(dir, 'haproxy.cfg');
  const state = join(dir, 'haproxy.cfg.state');
  const warnings: string[] = [];
  const log = silentLogger();
  log.warn = ((_o: unknown, msg?: string) => { warnings.push(String(msg)); }) as typeof log.warn;
  const socket = join(dir, 's.sock');
  const driver = new HaproxyDriver({ outputPath: out, validationCommand: 'true', reloadCommand: `echo reloaded >> ${join(dir, 'log')}`, cleanupCommand: 'exit 0', commandTimeoutMs: 5000, statsSocketPath: socket, serverStatePath: state, log });
  writeFileSync(state, 'stale\n');
  await driver.apply('one\n');
  t.notOk(existsSync(state), 'no socket yet (first start): nothing saved, an older state is not loaded instead');
  t.same(warnings, [], 'and nothing to warn about');
  writeFileSync(socket, 'not a socket');
  writeFileSync(state, 'stale\n');
  await driver.apply('two\n');
  t.equal(readFileSync(join(dir, 'log'), 'utf8'), 'reloaded\nreloaded\n', 'the reload ran anyway');
  t.notOk(existsSync(state), 'the stale state is removed');
  t.match(warnings, [/server states not saved/], 'logged');
});

t.test('while nothing serves, the first start is the check: the validation runs only when the start fails, and a config it refuses is undone as a failed check', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-driver-'));
  const out = join(dir, 'haproxy.cfg');
  const log = join(dir, 'log');
  // "HAProxy" refuses any config with `bad` in it, at its start as at its check; `port` makes only the start fail.
  const driver = new HaproxyDriver({
    outputPath: out, log: silentLogger(), commandTimeoutMs: 5000, nothingServes: () => true,
    validationCommand: `echo check >> ${log}; ! grep -q bad {{.}}`,
    reloadCommand: `echo start >> ${log}; ! grep -q bad ${out} && ! grep -q port ${out}`,
    cleanupCommand: `echo cleanup >> ${log}`,
  });
  const steps = (): string[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);

  const refused = await driver.apply('bad\n').catch((e: unknown) => e);
  t.ok(refused instanceof CulmError && refused.code === 'E_CONFIG_INVALID', 'a config the start refuses is reported as the check reports it');
  t.same(steps(), ['start', 'check', 'cleanup'], 'the check ran after the refused start, then the cleanup');
  t.notOk(existsSync(out), 'no unchecked config is left in place (there was none before)');
  t.equal(driver.applied(), undefined);

  writeFileSync(log, '');
  const failed = await driver.apply('port\n').catch((e: unknown) => e);
  t.ok(failed instanceof CulmError && failed.code === 'E_RELOAD_FAILED', 'a start that fails with a config the check takes is a failed reload, as before');
  t.same(steps(), ['start', 'check', 'cleanup']);

  writeFileSync(log, '');
  const timings = await driver.apply('good\n');
  t.same(steps(), ['start', 'cleanup'], 'a good first start runs no check');
  t.equal(timings?.validateMs, 0);
  t.equal(readFileSync(out, 'utf8'), 'good\n');

  writeFileSync(log, '');
  await driver.apply('good too\n');
  t.same(steps(), ['check', 'start', 'cleanup'], 'once a config is applied, every next one is checked first');
  t.equal(readdirSync(dir).filter((n) => n.endsWith('.candidate')).length, 0, 'no candidate file left behind');
});

t.test('an unchecked first start that used more CPU than a check may: a warning naming the setting; within it, or checked, none', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-driver-'));
  const warnings: string[] = [];
  const log = silentLogger();
  log.warn = ((_o: unknown, msg?: string) => { warnings.push(String(msg)); }) as typeof log.warn;
  let cpuMs = 0;
  let startCpuMs = 0;
  const driver = new HaproxyDriver({
    outputPath: join(dir, 'haproxy.cfg'), log, commandTimeoutMs: 5000, nothingServes: () => true,
    validationLimits: { cpuSeconds: 2, memoryMiB: 0 },
    // The start's CPU as /proc/self/stat would count it: each run of the reload command adds startCpuMs.
    run: async (command) => {
      if (command === 'start') cpuMs += startCpuMs;
      return { code: 0, signal: null, stdout: '', stderr: '', timedOut: false, ms: 1 };
    },
    childrenCpuMs: () => cpuMs,
    validationCommand: 'check {{.}}', reloadCommand: 'start', cleanupCommand: 'exit 0',
  });
  startCpuMs = 2500;
  await driver.apply('big\n');
  t.match(warnings, [/^HAProxy's first start, run without a check, used 2\.5 s of CPU, more than the check's CPU-time limit of 2 s: .*raise HAProxy\.ValidationCpuSeconds/], 'warned once');
  await driver.apply('bigger\n');
  t.equal(warnings.length, 1, 'a checked reload is not measured (the check is held to the limit)');
  const quiet = new HaproxyDriver({
    outputPath: join(dir, 'other.cfg'), log, commandTimeoutMs: 5000, nothingServes: () => true, validationLimits: { cpuSeconds: 2, memoryMiB: 0 },
    run: async () => ({ code: 0, signal: null, stdout: '', stderr: '', timedOut: false, ms: 1 }), childrenCpuMs: () => (cpuMs += 1500),
    validationCommand: 'check {{.}}', reloadCommand: 'start', cleanupCommand: 'exit 0',
  });
  await quiet.apply('small\n');
  t.equal(warnings.length, 1, 'a start within the limit: no warning');
});

t.test('without nothingServes (or while it says HAProxy serves), every config is checked before the start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-driver-'));
  const log = join(dir, 'log');
  for (const nothingServes of [undefined, () => false]) {
    writeFileSync(log, '');
    const driver = new HaproxyDriver({
      outputPath: join(dir, 'haproxy.cfg'), log: silentLogger(), commandTimeoutMs: 5000, ...(nothingServes ? { nothingServes } : {}),
      validationCommand: `echo check >> ${log}`, reloadCommand: `echo start >> ${log}`, cleanupCommand: 'exit 0',
    });
    await driver.apply('one\n');
    t.same(readFileSync(log, 'utf8').trim().split('\n'), ['check', 'start'], nothingServes ? 'HAProxy serves' : 'not set');
  }
});
