import t from 'tap';
import { execFileSync } from 'node:child_process';
import { redactUrl, shellQuote } from '../../src/core/text.js';

t.test('shellQuote: plain words as they are, anything else single-quoted so sh reads it back unchanged', async (t) => {
  t.equal(shellQuote('/etc/haproxy/haproxy.cfg'), '/etc/haproxy/haproxy.cfg');
  t.equal(shellQuote('a,b:c@d%e+f=g-h'), 'a,b:c@d%e+f=g-h');
  for (const word of ["it's", 'a b', '$(rm -rf /)', '`x`', 'a;b', 'x\ny', '"q"', "''", '']) {
    const quoted = shellQuote(word);
    t.not(quoted, word === '' ? '' : word, `${JSON.stringify(word)} is quoted`);
    t.equal(execFileSync('/bin/sh', ['-c', `printf %s ${quoted}`], { encoding: 'utf8' }), word, `sh reads ${JSON.stringify(word)} back`);
  }
});

t.test('redactUrl: userinfo password and the callback token, nothing else', async (t) => {
  t.equal(redactUrl('http://admin:s3cret@m1:8080/v2'), 'http://admin:[redacted]@m1:8080/v2');
  t.equal(redactUrl('http://admin@m1:8080'), 'http://admin:[redacted]@m1:8080');
  t.equal(redactUrl('http://lb:8000/api/marathon/event_callback?token=abc123&x=1'), 'http://lb:8000/api/marathon/event_callback?token=[redacted]&x=1');
  t.equal(redactUrl('http://lb:8000/cb?a=1&token=abc'), 'http://lb:8000/cb?a=1&token=[redacted]');
  t.equal(redactUrl('http://m1:8080/v2/apps?embed=apps.tasks'), 'http://m1:8080/v2/apps?embed=apps.tasks', 'no secret: unchanged');
  t.equal(redactUrl('not a url'), 'not a url');
  t.equal(redactUrl('http://u:se/cret@a:8080'), 'http://u:[redacted]@a:8080', 'a raw / in the password');
  t.equal(redactUrl('http://u:p@ss@a'), 'http://u:[redacted]@a', 'a raw @ in the password');
  t.equal(redactUrl('invalid Marathon endpoint "http://admin:s3cret@m1:8080" (bad port)'), 'invalid Marathon endpoint "http://admin:[redacted]@m1:8080" (bad port)', 'inside a message');
  t.equal(redactUrl('http://a:1@m1,http://b:2@m2'), 'http://a:[redacted]@m1,http://b:[redacted]@m2', 'each URL of a list');
});
