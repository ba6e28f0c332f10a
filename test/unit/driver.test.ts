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
