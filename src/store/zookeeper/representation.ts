/**
 * A rule's znode, as Bamboo reads and writes it (services/service/representation.go): the node name is
 * url.QueryEscape(id); the data is V2ServiceRepr JSON {"version":"2","config":{…}} or, from Bamboo's first
 * format, the bare ACL text. Pure: bytes in, rule or reason out.
 */
import { CulmError } from '../../core/errors.js';
import type { Rule } from '../../core/model.js';
import { checkRule } from '../../core/rules.js';
import { parseStoredRule } from '../file.js';
import { goQueryEscape, goQueryUnescape } from './escape.js';

export type Decoded = { ok: true; rule: Rule } | { ok: false; id: string; reason: string };

/** Go's encoding/json escapes these so the JSON is safe inside HTML; done here too so the bytes match. */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** What Bamboo's MakeV2ServiceRepr(service).Serialize() writes: keys sorted (Go sorts map keys), Acl set if any. */
export function encodeRule(rule: Rule): Buffer {
  const merged: Record<string, string> = { ...rule.config };
  if (rule.acl) merged.Acl = rule.acl;
  const config: Record<string, string> = {};
  for (const key of Object.keys(merged).sort(compareBytes)) config[key] = merged[key];
  return Buffer.from(goJson({ version: '2', config }), 'utf8');
}

/** Go compares strings bytewise; for UTF-16 code units that differs only above the BMP, which keys never use. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function ruleNodeName(id: string): string {
  return goQueryEscape(id);
}

/**
 * Reads one node like Bamboo's ParseServiceRepr (v2 first, otherwise the text is a v1 ACL), but refuses what
 * Bamboo would turn into a broken HAProxy config: JSON objects of an unknown version (a newer writer),
 * bytes that are not UTF-8, and control characters (they would inject directives).
 */
export function decodeRuleNode(name: string, data: Buffer | null | undefined): Decoded {
  let id: string;
  try {
    id = goQueryUnescape(name);
  } catch (err) {
    return { ok: false, id: name, reason: `node name is not query-escaped: ${(err as Error).message}` };
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data ?? Buffer.alloc(0));
  } catch {
    return { ok: false, id, reason: 'node data is not UTF-8' };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  let rule: Rule | null;
  if (typeof json === 'object' && json !== null) {
    const version = (json as { version?: unknown }).version;
    if (version !== '2') return { ok: false, id, reason: `unknown rule representation (version ${JSON.stringify(version ?? null)})` };
    const config = (json as { config?: unknown }).config;
    if (typeof config !== 'object' || config === null || Array.isArray(config)
      || Object.values(config).some((v) => typeof v !== 'string')) {
      return { ok: false, id, reason: 'v2 rule whose config is not an object of strings' };
    }
    rule = parseStoredRule(id, json);
  } else {
    // v1: the node's text is the ACL. A trailing newline (zkCli, echo) is not part of it.
    rule = parseStoredRule(id, text.replace(/\r?\n$/, ''));
  }
  if (!rule) return { ok: false, id, reason: 'unreadable rule' };
  try {
    return { ok: true, rule: checkRule(rule) };
  } catch (err) {
    return { ok: false, id, reason: err instanceof CulmError ? err.message : String(err) };
  }
}
