/** Per-app rules (Bamboo's "services"): normalisation and the checks done before one is stored. */
import { checkAclFiles, parseAcl, type ParsedAcl } from './acl.js';
import { CulmError } from './errors.js';
import type { Rule } from './model.js';
import { configSettings } from './backend-settings.js';
import { shown } from './input-grammar.js';
import { partialNameProblem, TEMPLATE_CONFIG_KEY } from './backend-template.js';

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
  // The backend settings it names (`balance`, `sticky`, `weight`, `maxconn`, `timeoutServer`) pass their grammar.
  const { problems } = configSettings(rule.config);
  if (problems.length) {
    const why = problems.map((p) => `Config.${p.name} ${shown(p.value)} ${p.why}`).join('; ');
    throw new CulmError('E_RULE_INVALID', `rule for ${rule.id}: ${why}; nothing was stored`, { status: 400 });
  }
  // The partial the app's backends are rendered with (backend-template.ts): a plain file name; the daemon
  // checks that the template directory holds it.
  const template = rule.config[TEMPLATE_CONFIG_KEY]?.trim();
  const templateProblem = template ? partialNameProblem(template) : '';
  if (templateProblem) throw new CulmError('E_RULE_INVALID', `Config.${TEMPLATE_CONFIG_KEY} for ${rule.id}: ${templateProblem}`, { status: 400 });
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

/**
 * Rules from a store pass the same grammar as a PUT (ZooKeeper is shared with Bamboo and other writers, and
 * older versions stored whatever HAProxy accepted): one that does not is left out, so its app keeps the default
 * ACL. Pattern files are judged lexically here; the validation's limits cover the rest.
 */
export function admitRules(rules: readonly Rule[], policy: RulePolicy): { admitted: Map<string, Rule>; refused: Array<{ rule: Rule; error: CulmError }> } {
  const admitted = new Map<string, Rule>();
  const refused: Array<{ rule: Rule; error: CulmError }> = [];
  for (const rule of rules) {
    try {
      checkRuleAcl(rule, policy);
      admitted.set(rule.id, rule);
    } catch (err) {
      if (!(err instanceof CulmError)) throw err;
      refused.push({ rule, error: err });
    }
  }
  return { admitted, refused };
}

/**
 * A failed check of the config with a new rule, as the rule's error: HAProxy's refusal (its message already
 * cleaned by the driver) and a check stopped by the validation limits are the rule's fault, 400 both (the
 * applied config passed under the same limits); anything else stays what it was.
 */
export function ruleCheckError(err: unknown): unknown {
  if (!(err instanceof CulmError)) return err;
  if (err.code === 'E_CONFIG_INVALID') {
    const detail = `HAProxy rejects the config with this rule: ${err.message}`;
    return new CulmError('E_RULE_INVALID', `HAProxy refuses this rule: ${firstHaproxyReason(err.message)}`, { status: 400, cause: err, detail });
  }
  if (err.code === 'E_VALIDATION_LIMIT') {
    return new CulmError('E_RULE_ACL_LIMIT', `checking the config with this rule was stopped: ${err.message}; nothing was stored`, { status: 400, cause: err });
  }
  return err;
}

const SHORT_REASON = 160;

/**
 * HAProxy's first reason, without where it found it (the candidate's line, the ACL's generated name), one
 * line a person reads beside the field: "regex '[a-' is invalid (error=missing terminating ]…)". The
 * message given is already cleaned (haproxy-errors.ts: reasons joined by " | ", no pids or temporary paths).
 */
export function firstHaproxyReason(message: string): string {
  const first = message.replace(/^validation failed \([^)]*\):\s*/, '').split(' | ')[0];
  const reason = first
    .replace(/^parsing \[[^\]]*\]\s*:\s*/, '')
    .replace(/^error detected while parsing (?:an? )?ACL '[^']*'\s*:\s*/, '')
    .trim() || first.trim();
  return reason.length > SHORT_REASON ? `${reason.slice(0, SHORT_REASON)}…` : reason;
}

/** Bamboo keeps the ACL twice: as `Acl` and as `Config.Acl`; the two are kept equal. */
export function makeRule(id: string, acl: string, config: Record<string, string> = {}): Rule {
  const merged = { ...config };
  if (acl) merged.Acl = acl;
  else delete merged.Acl;
  return { id: normaliseRuleId(id), acl, config: merged };
}

/** The same rule: id, ACL and Config (a store's re-read gives new objects for rules that did not change). */
export function sameRule(a: Rule, b: Rule): boolean {
  if (a === b) return true;
  if (a.id !== b.id || a.acl !== b.acl) return false;
  const keys = Object.keys(a.config);
  return keys.length === Object.keys(b.config).length && keys.every((k) => Object.hasOwn(b.config, k) && b.config[k] === a.config[k]);
}

/**
 * `next` with each rule that equals one of `current` replaced by that object (views are cached by rule
 * identity), or `current` itself when nothing changed (then nothing needs applying).
 */
export function keepEqualRules(current: ReadonlyMap<string, Rule>, next: ReadonlyMap<string, Rule>): ReadonlyMap<string, Rule> {
  let same = current.size === next.size;
  const kept = new Map<string, Rule>();
  for (const [id, rule] of next) {
    const old = current.get(id);
    if (old && sameRule(old, rule)) kept.set(id, old);
    else {
      kept.set(id, rule);
      same = false;
    }
  }
  return same ? current : kept;
}

/** Bamboo's JSON for a service, as /api/services shows it. */
export function ruleToBamboo(rule: Rule): { Id: string; Acl: string; Config: Record<string, string> } {
  return { Id: rule.id, Acl: rule.acl, Config: { ...rule.config } };
}
