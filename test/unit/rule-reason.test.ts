/** A refused rule's REST message: HAProxy's first reason, one short line; the whole text in `detail`. */
import t from 'tap';
import { CulmError } from '../../src/core/errors.js';
import { firstHaproxyReason, ruleCheckError } from '../../src/core/rules.js';

const cases: Array<{ desc: string; message: string; reason: string }> = [
  {
    desc: 'a regex HAProxy cannot compile: the place and the generated ACL name go',
    message: "validation failed (exit 1): parsing [haproxy.cfg:38] : error detected while parsing ACL '::grp::api-aclrule' : regex '[a-' is invalid (error=missing terminating ] for character class, erroffset=3). | parsing [haproxy.cfg:39] : error detected while parsing switching rule : no such ACL : '::grp::api-aclrule'.",
    reason: "regex '[a-' is invalid (error=missing terminating ] for character class, erroffset=3).",
  },
  { desc: 'a line with no known prefix stays whole', message: 'validation failed (exit 1): something else broke', reason: 'something else broke' },
  { desc: 'only the place: kept after it', message: "parsing [haproxy.cfg:9] : unknown keyword 'x'", reason: "unknown keyword 'x'" },
  { desc: 'a very long reason is cut', message: `parsing [haproxy.cfg:9] : ${'y'.repeat(400)}`, reason: `${'y'.repeat(160)}…` },
];

for (const c of cases) {
  t.test(c.desc, async (t) => {
    t.equal(firstHaproxyReason(c.message), c.reason);
  });
}

t.test('ruleCheckError: E_RULE_INVALID, short message, HAProxy\'s whole output in detail', async (t) => {
  const raw = cases[0].message;
  const err = ruleCheckError(new CulmError('E_CONFIG_INVALID', raw, { status: 400 })) as CulmError;
  t.equal(err.code, 'E_RULE_INVALID');
  t.equal(err.status, 400);
  t.equal(err.message, `HAProxy refuses this rule: ${cases[0].reason}`);
  t.notMatch(err.message, /\n| \| /, 'one line, one reason');
  t.match(err.detail, raw);
  const other = new CulmError('E_STORE_UNAVAILABLE', 'zk down', { status: 503 });
  t.equal(ruleCheckError(other), other, 'other errors pass through');
});
