/**
 * The audit of rule writes: who (user, "token", "anonymous"), from which address, the rule before and after,
 * and for a refused write its error code. One record per write, kept by the core for /api/history and
 * written as one log line; credentials never appear in either (the principal is a name, not a secret).
 */
import type { ErrorCode } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { BambooRule, CulmCore, RuleChangeRecord } from '../pipeline/types.js';
import { principalName, type Principal } from './auth.js';
import type { AuditNote } from './router.js';

export interface RuleWrite {
  at: number;
  method: string;
  note: AuditNote;
  principal: Principal;
  from: string;
  status: number;
  error?: { code: ErrorCode; message: string };
  durationMs: number;
}

function show(rule: BambooRule | null | undefined): string {
  return rule ? JSON.stringify(rule.Acl) : 'none';
}

export function ruleChangeRecord(w: RuleWrite): RuleChangeRecord {
  const who = principalName(w.principal);
  const action = w.method === 'DELETE' ? 'delete' : 'set';
  const changed = w.error === undefined && w.status < 400;
  const before = w.note.before ?? null;
  const after = changed ? w.note.after ?? null : null;
  const target = w.note.id === undefined ? 'a rule' : `rule ${w.note.id}`;
  const reason = changed
    ? `${target} ${action === 'delete' ? 'deleted' : 'set'} by ${who} from ${w.from}: ${show(before)} -> ${show(after)}`
    : `${target} ${action} refused (${w.status}) for ${who} from ${w.from}`;
  return {
    kind: 'rule',
    at: w.at,
    result: changed ? 'changed' : 'refused',
    action,
    ...(w.note.id === undefined ? {} : { id: w.note.id }),
    who,
    from: w.from,
    before,
    after,
    ...(w.error === undefined ? {} : { error: w.error }),
    status: w.status,
    reasons: [reason],
    durationMs: Math.round(w.durationMs * 10) / 10,
  };
}

/** Records the write with the core and logs it: info when it changed a rule, warn when it was refused. */
export function auditRuleWrite(core: CulmCore, log: Logger, w: RuleWrite): void {
  const record = ruleChangeRecord(w);
  try {
    core.recordRuleChange(record);
  } catch (err) {
    log.error({ err: String(err) }, 'rule audit not recorded');
  }
  const { kind: _kind, reasons, ...fields } = record;
  if (record.result === 'changed') log.info({ audit: fields }, reasons[0]);
  else log.warn({ audit: fields }, reasons[0]);
}
