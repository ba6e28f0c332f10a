/** Credentials: the Authorization parser, scrypt hashes and the users file, and who ApiAuth says is calling. */
import t from 'tap';
import { ApiAuth, parseAuthorization, principalName, sameSecret } from '../../src/http/auth.js';
import { hashPassword, parseHash, parseUsersFile, verifyPassword } from '../../src/http/passwords.js';

// Cheap hashes: the cost is a parameter of the string, and the tests are about the format and the decisions.
const CHEAP = { ln: 4, r: 8, p: 1 };
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

t.test('parseAuthorization', async (t) => {
  const cases: Array<{ desc: string; header: string | undefined; want: unknown }> = [
    { desc: 'absent', header: undefined, want: { scheme: 'none' } },
    { desc: 'blank', header: '  ', want: { scheme: 'none' } },
    { desc: 'bearer', header: 'Bearer abc.def', want: { scheme: 'bearer', token: 'abc.def' } },
    { desc: 'scheme case-insensitive', header: 'bEaReR abc', want: { scheme: 'bearer', token: 'abc' } },
    { desc: 'basic', header: basic('ops', 'pa:ss'), want: { scheme: 'basic', user: 'ops', password: 'pa:ss' } },
    { desc: 'basic, empty password', header: basic('ops', ''), want: { scheme: 'basic', user: 'ops', password: '' } },
    { desc: 'basic, utf-8', header: basic('jö', 'ü'), want: { scheme: 'basic', user: 'jö', password: 'ü' } },
    { desc: 'basic without colon', header: `Basic ${Buffer.from('ops').toString('base64')}`, want: { scheme: 'invalid' } },
    { desc: 'basic not base64', header: 'Basic ***', want: { scheme: 'invalid' } },
    { desc: 'other scheme', header: 'Digest x', want: { scheme: 'invalid', why: /unsupported/ } },
    { desc: 'no credentials', header: 'Bearer', want: { scheme: 'invalid' } },
    { desc: 'two tokens', header: 'Bearer a b', want: { scheme: 'invalid' } },
  ];
  for (const c of cases) t.match(parseAuthorization(c.header), c.want, c.desc);
});

t.test('sameSecret compares whole secrets of any length', async (t) => {
  t.ok(sameSecret('s3cr3t', 's3cr3t'));
  t.notOk(sameSecret('s3cr3t', 's3cr3'), 'a prefix is not the secret');
  t.notOk(sameSecret('s3cr3t', 's3cr3t-and-more'));
  t.notOk(sameSecret('', 'x'));
  // Table: given, secret, same? (several secrets in turn: each is prepared once and kept).
  const cases: Array<[string, string, boolean]> = [
    ['', '', true],
    ['x', '', false],
    ['abc', 'abd', false],
    ['abc\u0000', 'abc', false],
    ['abc', 'abc\u0000', false],
    ['héllo', 'héllo', true],
    ['hello', 'héllo', false],
    ['hé', 'h\u00e9', true],
    ['h\u00e9x', 'héllo', false],
    ['€€', 'aaaaaa', false],
    ['aaaaaa', '€€', false],
    ['s3cr3t', 's3cr3t', true],
    ['s3cr3t-and-more', 's3cr3t', false],
  ];
  for (let round = 0; round < 2; round++) {
    for (const [given, secret, want] of cases) t.equal(sameSecret(given, secret), want, `${JSON.stringify(given)} vs ${JSON.stringify(secret)}`);
  }
});

t.test('scrypt hashes: format, salt, verification, bounds', async (t) => {
  const a = await hashPassword('hunter2', CHEAP);
  const b = await hashPassword('hunter2', CHEAP);
  t.match(a, /^\$scrypt\$ln=4,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
  t.not(a, b, 'a fresh salt each time');
  t.ok(await verifyPassword('hunter2', parseHash(a)));
  t.notOk(await verifyPassword('hunter3', parseHash(a)));
  t.notOk(await verifyPassword('', parseHash(a)));
  t.throws(() => parseHash('plain'), /not a culm scrypt hash/);
  t.throws(() => parseHash(a.replace('ln=4', 'ln=30')), /out of range/, 'a cost that would eat the host is refused');
  t.throws(() => parseHash(a.replace('p=1', 'p=0')), /out of range/);
});

t.test('users file', async (t) => {
  const h = await hashPassword('pw', CHEAP);
  const users = parseUsersFile(`# operators\n\nalice:${h}\r\n  bob:${h}  \n`, '/etc/culm/users');
  t.same([...users.keys()], ['alice', 'bob']);
  const bad: Array<{ desc: string; text: string; want: RegExp }> = [
    { desc: 'no colon', text: 'alice', want: /\/etc\/culm\/users line 1: expected user:hash/ },
    { desc: 'empty user', text: `:${h}`, want: /line 1: expected user:hash/ },
    { desc: 'bad hash', text: `# x\nalice:plaintext`, want: /line 2: not a culm scrypt hash/ },
    { desc: 'twice', text: `alice:${h}\nalice:${h}`, want: /line 2: user "alice" is listed twice/ },
    { desc: 'space in name', text: `al ice:${h}`, want: /spaces or control characters/ },
  ];
  for (const c of bad) {
    t.throws(() => parseUsersFile(c.text, '/etc/culm/users'), { code: 'E_CONFIG', message: c.want }, c.desc);
    t.throws(() => parseUsersFile(c.text, '/etc/culm/users'), { message: /CULM_API_USERS_FILE/ }, `${c.desc}: names the setting`);
  }
  try {
    parseUsersFile(`alice:${h}x!`, 'f');
  } catch (err) {
    t.notMatch((err as Error).message, h.slice(20), 'the message does not quote the hash');
  }
});

t.test('ApiAuth decisions', async (t) => {
  const users = parseUsersFile(`ops:${await hashPassword('right', CHEAP)}`, 'f');
  const off = new ApiAuth();
  const token = new ApiAuth({ token: 'tok-123' });
  const both = new ApiAuth({ token: 'tok-123', users, readAuth: true });
  t.notOk(off.enabled, 'off without token or users');
  t.notOk(off.required(true), 'writes open when off (Bamboo)');
  t.same(await off.identify('Bearer anything', true), { kind: 'anonymous' });
  t.ok(token.required(true));
  t.notOk(token.required(false), 'reads open by default');
  t.ok(both.required(false), 'reads closed with readAuth');
  t.notOk(new ApiAuth({ readAuth: true }).required(false), 'readAuth means nothing without credentials');
  t.same(token.challenges(), ['Bearer realm="culm"']);
  t.same(both.challenges(), ['Basic realm="culm", charset="UTF-8"', 'Bearer realm="culm"'], 'Basic first: browsers prompt');

  const cases: Array<{ desc: string; auth: ApiAuth; header?: string; required: boolean; want?: string; code?: string }> = [
    { desc: 'token', auth: token, header: 'Bearer tok-123', required: true, want: 'token' },
    { desc: 'wrong token', auth: token, header: 'Bearer tok-12', required: true, code: 'E_UNAUTHORIZED' },
    { desc: 'no credentials', auth: token, required: true, code: 'E_UNAUTHORIZED' },
    { desc: 'no credentials, not required', auth: token, required: false, want: 'anonymous' },
    { desc: 'wrong token, not required: anonymous', auth: token, header: 'Bearer x', required: false, want: 'anonymous' },
    { desc: 'basic user', auth: both, header: basic('ops', 'right'), required: true, want: 'ops' },
    { desc: 'basic, wrong password', auth: both, header: basic('ops', 'wrong'), required: true, code: 'E_UNAUTHORIZED' },
    { desc: 'basic, unknown user', auth: both, header: basic('eve', 'right'), required: true, code: 'E_UNAUTHORIZED' },
    { desc: 'basic against a token-only API', auth: token, header: basic('ops', 'right'), required: true, code: 'E_UNAUTHORIZED' },
    { desc: 'token with users too', auth: both, header: 'Bearer tok-123', required: true, want: 'token' },
    { desc: 'malformed', auth: both, header: 'Basic', required: true, code: 'E_UNAUTHORIZED' },
  ];
  for (const c of cases) {
    if (c.code) {
      await t.rejects(c.auth.identify(c.header, c.required), { code: c.code, status: 401 }, c.desc);
    } else {
      t.equal(principalName(await c.auth.identify(c.header, c.required)), c.want, c.desc);
    }
  }
  await t.rejects(token.identify('Bearer nope', true), { message: /Authorization: Bearer <CULM_API_TOKEN>/ }, 'the 401 says how to authenticate');
  t.equal(principalName(await both.identify(basic('ops', 'right'), true)), 'ops', 'a second check (cached) agrees');
});
