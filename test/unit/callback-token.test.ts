/** The callback secret: made once, kept (0600), reused after a restart; a corrupt file replaced, an unreadable one an error. */
import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log/logger.js';
import { loadOrCreateCallbackToken, sameToken, TOKEN_FILE } from '../../src/marathon/callback-token.js';

function logger() {
  let text = '';
  const log = createLogger('info', new Writable({ write(chunk, _e, cb) { text += String(chunk); cb(); } }));
  return { log, text: () => text };
}

t.test('made once, 256 bits URL-safe, mode 0600, reused; never logged', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-token-'));
  const { log, text } = logger();
  const token = loadOrCreateCallbackToken(dir, log);
  t.match(token, /^[A-Za-z0-9_-]{43}$/);
  t.equal(Buffer.from(token, 'base64url').length, 32);
  t.equal(statSync(join(dir, TOKEN_FILE)).mode & 0o777, 0o600);
  t.equal(loadOrCreateCallbackToken(dir, log), token, 'a restart reuses it');
  t.not(loadOrCreateCallbackToken(mkdtempSync(join(tmpdir(), 'culm-token-')), log), token, 'another data dir, another secret');
  chmodSync(join(dir, TOKEN_FILE), 0o644);
  loadOrCreateCallbackToken(dir, log);
  t.equal(statSync(join(dir, TOKEN_FILE)).mode & 0o777, 0o600, 'a loosened mode is tightened');
  t.match(text(), /made a callback token/);
  t.notMatch(text(), token, 'the secret is not in the log');
});

t.test('a corrupt file is replaced (logged); an unreadable one is an error naming it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-token-'));
  writeFileSync(join(dir, TOKEN_FILE), 'short\n');
  const { log, text } = logger();
  const token = loadOrCreateCallbackToken(dir, log);
  t.match(token, /^[A-Za-z0-9_-]{43}$/);
  t.equal(readFileSync(join(dir, TOKEN_FILE), 'utf8').trim(), token);
  t.match(text(), /does not hold a token culm made/);
  const other = mkdtempSync(join(tmpdir(), 'culm-token-'));
  mkdirSync(join(other, TOKEN_FILE));
  t.throws(() => loadOrCreateCallbackToken(other, log), { code: 'E_CALLBACK_TOKEN_FILE', message: new RegExp(TOKEN_FILE) });
});

t.test('sameToken: equal strings only, missing never', async (t) => {
  t.ok(sameToken('abc', 'abc'));
  for (const given of ['abd', 'ab', 'abcd', '', null, undefined]) t.notOk(sameToken(given, 'abc'), String(given));
});
