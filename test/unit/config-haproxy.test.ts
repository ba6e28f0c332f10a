import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config/index.js';

// The default commands must work against the real binary, including the very first start when no
// pid file exists yet (`$(cat pid 2>/dev/null)` expands to nothing and haproxy accepts a bare -sf).
const haproxy = spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0;

t.test('default validation and reload commands work with the real haproxy', { skip: haproxy ? false : 'haproxy not installed' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-hx-'));
  const started: number[] = [];
  t.teardown(() => {
    for (const pid of started) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const cfg = loadConfig({ argv: [], env: {}, cwd: dir }).haproxy;
  t.equal(cfg.outputPath, join(dir, 'data', 'haproxy.cfg'));
  mkdirSync(dirname(cfg.outputPath), { recursive: true });
  writeFileSync(cfg.outputPath, [
    'global',
    `  stats socket ${cfg.statsSocketPath} mode 600 level admin`,
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 1s',
    '  timeout server 1s',
    'frontend f',
    `  bind unix@${join(dir, 'f.sock')}`,
    '',
  ].join('\n'));
  const sh = (command: string) => spawnSync('sh', ['-c', command], { stdio: 'ignore', timeout: cfg.commandTimeoutMs }).status;

  t.equal(sh(cfg.validationCommand.replaceAll('{{.}}', cfg.outputPath)), 0, 'validation passes');
  t.notOk(existsSync(cfg.pidPath), 'no pid file before the first start');
  t.equal(sh(cfg.reloadCommand), 0, 'first start');
  const first = Number(readFileSync(cfg.pidPath, 'utf8').trim());
  started.push(first);
  t.ok(first > 0, 'pid file written');
  t.ok(existsSync(cfg.statsSocketPath), 'stats socket beside the output path');

  t.equal(sh(cfg.reloadCommand), 0, 'reload');
  const second = Number(readFileSync(cfg.pidPath, 'utf8').trim());
  started.push(second);
  t.not(second, first, 'a new process took over (this socket has no expose-fd listeners: -x refused, plain -sf)');

  process.kill(second, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 200));
  t.ok(existsSync(cfg.statsSocketPath), 'kill -9 leaves the socket file behind');
  t.equal(sh(cfg.reloadCommand), 0, 'start after kill -9: the dead socket is not passed to -x');
  const third = Number(readFileSync(cfg.pidPath, 'utf8').trim());
  started.push(third);
  t.not(third, second, 'a new process runs');
  t.equal(sh(cfg.cleanupCommand), 0, 'cleanup');
});

t.test('HAProxy.UserGroup is read only with a user: a bad one is ignored without HAProxy.User, refused with it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-cfg-group-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // An empty environment value counts as unset (Bamboo's way): the empty user is given in the file.
  writeFileSync(join(dir, 'culm.json'), JSON.stringify({ HAProxy: { User: '', UserGroup: 'x y' } }));
  const without = loadConfig({ argv: ['--config', join(dir, 'culm.json')], env: {}, cwd: dir }).haproxy;
  t.same([without.user, without.group], ['', ''], 'no user: HAProxy keeps culm\'s user and group');
  t.throws(() => loadConfig({ argv: [], env: { HAPROXY_USER: 'haproxy', HAPROXY_USER_GROUP: 'x y' }, cwd: dir }), { code: 'E_CONFIG', message: /HAProxy\.UserGroup/ });
  const both = loadConfig({ argv: [], env: { HAPROXY_USER: 'haproxy', HAPROXY_USER_GROUP: 'daemon' }, cwd: dir }).haproxy;
  t.same([both.user, both.group], ['haproxy', 'daemon']);
  t.end();
});
