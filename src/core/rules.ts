/** Per-app rules (Bamboo's "services"): normalisation and the checks done before one is stored. */
import { checkAclFiles, parseAcl, type ParsedAcl } from './acl.js';
import { CulmError } from './errors.js';
import type { Rule } from './model.js';

/** Bamboo adds the leading slash to ids given without one. */
export function normaliseRuleId(id: string): string {
  const trimmed = id.trim();
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

// Newlines or other control characters in an ACL would let a rule inject HAProxy directives.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** What an operator allows rules: the directory `-f` pattern files may come from ('' = none). */
export interface RulePolicy {
  aclFilesDir: string;
}

/**
 * Refuses a rule that could inject directives or read outside the config (see `acl.ts`). Without a policy
 * (the REST layer, which does not know the settings) pattern files are left to the core's call, which has one.
 */
export function checkRule(rule: Rule, policy?: RulePolicy): Rule {
  checkRuleAcl(rule, policy);
  return rule;
}

/** The parsed ACL of a rule that passed `checkRule` (undefined for the default ACL). */
export function checkRuleAcl(rule: Rule, policy?: RulePolicy): ParsedAcl | undefined {
  if (!rule.id || rule.id === '/') throw new CulmError('E_RULE_ID', 'rule id is empty', { status: 400 });
  if (CONTROL.test(rule.id) || /\s/.test(rule.id)) {
    throw new CulmError('E_RULE_ID', `rule id ${JSON.stringify(rule.id)} contains whitespace or control characters`, { status: 400 });
  }
  if (CONTROL.test(rule.acl)) {
    throw new CulmError('E_RULE_ACL', `acl for ${rule.id} contains a newline or control character`, { status: 400 });
  }
  for (const [key, value] of Object.entries(rule.config)) {
    if (CONTROL.test(key) || CONTROL.test(value)) {
      throw new CulmError('E_RULE_CONFIG', `config key ${JSON.stringify(key)} for ${rule.id} contains a newline or control character`, { status: 400 });
    }
  }
  // An empty ACL means the default one (`path_beg -i <id>`), which the view writes.
  if (!rule.acl.trim()) return undefined;
  let parsed: ParsedAcl;
  try {
    parsed = parseAcl(rule.acl.trim());
    if (policy) checkAclFiles(parsed, policy.aclFilesDir);
  } catch (err) {
    if (err instanceof CulmError) throw new CulmError(err.code, `acl for ${rule.id}: ${err.message}`, { status: 400, cause: err });
    throw err;
  }
  return parsed;
}

/** Bamboo keeps the ACL twice: as `Acl` and as `Config.Acl`; the two are kept equal. */
export function makeRule(id: string, acl: string, config: Record<string, string> = {}): Rule {
  const merged = { ...config };
  if (acl) merged.Acl = acl;
  else delete merged.Acl;
  return { id: normaliseRuleId(id), acl, config: merged };
}

/** Bamboo's JSON for a service, as /api/services shows it. */
export function ruleToBamboo(rule: Rule): { Id: string; Acl: string; Config: Record<string, string> } {
  return { Id: rule.id, Acl: rule.acl, Config: { ...rule.config } };
}
