/**
 * A rule's ACL, parsed into HAProxy's ACL grammar before anything else sees it:
 *
 *   <fetch>[(args)][,<converter>[(args)]]* [-i|-n|-M|-f <file>|-m <method>|-u <id>]* [--] [<pattern> …]
 *
 * The text lands on one config line, `acl <EscapedId>-aclrule <ACL>`, so it is first split into words the way
 * HAProxy 2.6's line parser does (quotes, backslash escapes, `#` comments, environment expansion), then the
 * words are read as an ACL. What could make HAProxy read anything but the config is refused here, with a
 * message that names the piece: pattern files outside the operator's directory, `"${VAR}"`/`"$VAR"`
 * (HAProxy expands them in double quotes and echoes the value in its errors), fetches and converters not in the
 * closed lists of `acl-keywords.ts`, and anything the line parser would read differently from what it looks
 * like (`#` cuts the line, `||`/`!` are patterns on an acl line, not operators). Pure: whether a pattern file
 * really sits in the directory (symlinks) is checked at the edge, `src/fs/acl-files.ts`.
 */
import { isIpAddress } from './input-grammar.js';
import { CulmError } from './errors.js';
import { CONVERTERS, FETCHES, IP_FETCHES, MATCH_METHODS, type ArgUse } from './acl-keywords.js';

/** The refusal codes, each a 400. */
export type AclErrorCode =
  | 'E_RULE_ACL_SYNTAX' // quotes, parentheses, escapes, comments, length
  | 'E_RULE_ACL_ENV' // environment expansion
  | 'E_RULE_ACL_FETCH' // unknown fetch or converter, bad arguments
  | 'E_RULE_ACL_FLAG' // unknown flag, match method, flag without its value
  | 'E_RULE_ACL_FILE' // a pattern file outside the configured directory
  | 'E_RULE_ACL_OPERATOR' // ||, !, or… on an acl line
  | 'E_RULE_ACL_PATTERN'; // a pattern HAProxy would resolve (a host name for an IP fetch)

export interface ParsedAcl {
  fetch: string;
  fetchArgs?: string;
  converters: Array<{ name: string; args?: string }>;
  /** `-i`, `-n`, `-M`, `-m <method>`, `-u <id>` in order (without `-f`). */
  flags: string[];
  method?: string;
  /** `-f` files, as written. */
  files: string[];
  patterns: string[];
}

/**
 * HAProxy reads at most 2048 bytes per line and 64 words (MAX_LINE_ARGS); the line also holds `acl`, the name
 * and indentation. Longer rules would be cut or refused with an error about another line.
 */
export const MAX_ACL_LENGTH = 1500;
export const MAX_ACL_WORDS = 60;

const fail = (code: AclErrorCode, message: string): never => {
  throw new CulmError(code, message, { status: 400 });
};

const show = (s: string): string => JSON.stringify(s);

/**
 * Splits like HAProxy 2.6's `parse_line()`: blanks separate words, `'…'` is literal, `"…"` is literal except
 * for `\` escapes and `$` expansion, quoted and unquoted parts of one word are joined, `#` outside quotes ends
 * the line. Refuses what would change the line's meaning or read the environment.
 */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
      continue;
    }
    if (c === '\\') {
      const next = text[i + 1];
      if (next === undefined) fail('E_RULE_ACL_SYNTAX', 'the rule ends with a lone backslash');
      if (next === 'x' || next === 'r' || next === 'n' || next === 't') {
        fail('E_RULE_ACL_SYNTAX', `the escape \\${next} at position ${i + 1} would put a control character in the pattern; write the character itself`);
      }
      // HAProxy drops the backslash before these, and keeps it before anything else (regexes: `\.`, `\d`).
      word = (word ?? '') + (' \\#\'"$'.includes(next) ? next : `\\${next}`);
      i++;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '$' && /[{A-Za-z_]/.test(text[i + 1] ?? '')) {
        fail('E_RULE_ACL_ENV', `${show(text.slice(i, i + 2))}… at position ${i + 1}: HAProxy expands environment variables inside double quotes; a rule may not read them (write \\$ or use single quotes for a literal $)`);
      } else word += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
      continue;
    }
    if (c === ' ' || c === '\t') {
      if (word !== undefined) words.push(word);
      word = undefined;
      continue;
    }
    if (c === '#') {
      fail('E_RULE_ACL_SYNTAX', `'#' at position ${i + 1} starts a comment in HAProxy and would cut the rule there; quote it or write \\#`);
    }
    if (c === '$' && text[i + 1] === '{') {
      fail('E_RULE_ACL_ENV', `"\${" at position ${i + 1}: environment variables are not allowed in a rule`);
    }
    word = (word ?? '') + c;
  }
  if (quote) fail('E_RULE_ACL_SYNTAX', `unbalanced ${quote === '"' ? 'double' : 'single'} quote: the rule ends inside a quoted string`);
  if (word !== undefined) words.push(word);
  return words;
}

// Arguments are names, numbers, header names, delimiters: nothing that needs quoting or could nest.
const ARG_CHARS = /^[A-Za-z0-9_.:/+@*=~%-]*(,[A-Za-z0-9_.:/+@*=~%-]*)*$/;
const NAME = /^[a-z0-9_.+]+/;

interface Call { name: string; args?: string; rest: string }

function readCall(text: string, what: 'fetch' | 'converter'): Call {
  const name = NAME.exec(text)?.[0];
  if (!name) fail('E_RULE_ACL_FETCH', `expected a ${what} name at ${show(text)}`);
  let rest = text.slice(name!.length);
  let args: string | undefined;
  if (rest.startsWith('(')) {
    const close = rest.indexOf(')');
    if (close < 0) fail('E_RULE_ACL_SYNTAX', `unbalanced parenthesis after ${what} ${show(name!)}`);
    args = rest.slice(1, close);
    if (args.includes('(')) fail('E_RULE_ACL_SYNTAX', `nested parenthesis in the arguments of ${what} ${show(name!)}`);
    if (!ARG_CHARS.test(args)) {
      fail('E_RULE_ACL_FETCH', `the arguments of ${what} ${show(name!)} may only hold letters, digits and _ . : / + @ * = ~ % - separated by commas, got ${show(args)}`);
    }
    rest = rest.slice(close + 1);
  } else if (rest.startsWith(')')) {
    fail('E_RULE_ACL_SYNTAX', `unbalanced parenthesis after ${what} ${show(name!)}`);
  }
  return { name: name!, ...(args === undefined ? {} : { args }), rest };
}

function checkArgs(kind: 'fetch' | 'converter', name: string, use: ArgUse, args: string | undefined): void {
  if (use === 'none' && args !== undefined) fail('E_RULE_ACL_FETCH', `${kind} ${show(name)} takes no arguments`);
  if (use === 'required' && !args) fail('E_RULE_ACL_FETCH', `${kind} ${show(name)} needs arguments in parentheses`);
}

function parseExpression(word: string): Pick<ParsedAcl, 'fetch' | 'fetchArgs' | 'converters'> {
  if (word.startsWith('!')) {
    fail('E_RULE_ACL_OPERATOR', `a rule cannot start with '!': negation belongs to the condition that uses an ACL, not to the acl line; write the positive test`);
  }
  const fetch = readCall(word, 'fetch');
  const use = FETCHES[fetch.name];
  if (use === undefined || !Object.hasOwn(FETCHES, fetch.name)) {
    fail('E_RULE_ACL_FETCH', `unknown fetch ${show(fetch.name)}: a rule starts with an HAProxy sample fetch or ACL keyword such as path_beg, hdr(host), hdr_dom(host), src, method (see the README's rule grammar)`);
  }
  checkArgs('fetch', fetch.name, use!, fetch.args);
  const converters: ParsedAcl['converters'] = [];
  let rest = fetch.rest;
  while (rest !== '') {
    if (!rest.startsWith(',')) fail('E_RULE_ACL_SYNTAX', `unexpected ${show(rest)} after ${show(word.slice(0, word.length - rest.length))}`);
    const conv = readCall(rest.slice(1), 'converter');
    const cuse = Object.hasOwn(CONVERTERS, conv.name) ? CONVERTERS[conv.name] : undefined;
    if (cuse === undefined) fail('E_RULE_ACL_FETCH', `unknown or refused converter ${show(conv.name)}`);
    checkArgs('converter', conv.name, cuse!, conv.args);
    converters.push({ name: conv.name, ...(conv.args === undefined ? {} : { args: conv.args }) });
    rest = conv.rest;
  }
  return { fetch: fetch.name, ...(fetch.args === undefined ? {} : { fetchArgs: fetch.args }), converters };
}

const OPERATOR_WORDS = new Set(['||', '&&', '!', 'or', 'OR', 'if', 'unless']);
/**
 * An address or network HAProxy takes as is, without resolving it: an IP by its grammar (a hex-only word such as
 * `dead.beef` or `c0ffee.de` is a host name to HAProxy, looked up in DNS), with an optional prefix length or mask.
 */
function isIpPattern(p: string): boolean {
  const slash = p.indexOf('/');
  const address = slash < 0 ? p : p.slice(0, slash);
  const mask = slash < 0 ? undefined : p.slice(slash + 1);
  if (!isIpAddress(address)) return false;
  if (mask === undefined) return true;
  return (/^\d{1,3}$/.test(mask) && Number(mask) <= (address.includes(':') ? 128 : 32)) || isIpAddress(mask);
}

/** Parses a rule's ACL text; throws a 400 CulmError with an `E_RULE_ACL_*` code. */
export function parseAcl(text: string): ParsedAcl {
  if (text.length > MAX_ACL_LENGTH) fail('E_RULE_ACL_SYNTAX', `the rule is ${text.length} characters long; at most ${MAX_ACL_LENGTH} fit on an HAProxy line`);
  const words = splitWords(text);
  if (words.length === 0) fail('E_RULE_ACL_SYNTAX', 'the rule is empty');
  if (words.length > MAX_ACL_WORDS) fail('E_RULE_ACL_SYNTAX', `the rule has ${words.length} words; HAProxy reads at most ${MAX_ACL_WORDS} on an acl line`);
  const parsed: ParsedAcl = { ...parseExpression(words[0]), flags: [], files: [], patterns: [] };
  let i = 1;
  // Flags are recognised after HAProxy removed the quotes: "-f" is -f.
  for (; i < words.length && words[i].startsWith('-'); i++) {
    const flag = words[i];
    if (flag === '--') { i++; break; }
    if (flag === '-i' || flag === '-n' || flag === '-M') { parsed.flags.push(flag); continue; }
    if (flag === '-f' || flag === '-m' || flag === '-u') {
      const value = words[++i];
      if (value === undefined) fail('E_RULE_ACL_FLAG', `${flag} needs a value`);
      if (flag === '-f') parsed.files.push(value!);
      else if (flag === '-m') {
        if (!MATCH_METHODS.includes(value!)) fail('E_RULE_ACL_FLAG', `unknown match method -m ${show(value!)}; one of ${MATCH_METHODS.join(', ')}`);
        parsed.method = value!;
        parsed.flags.push(flag, value!);
      } else parsed.flags.push(flag, value!);
      continue;
    }
    fail('E_RULE_ACL_FLAG', `${show(flag)} is not an ACL flag (-i, -n, -m <method>, -f <file>, -M, -u <id>, --); put -- before a pattern that starts with '-'`);
  }
  const literal = i > 0 && words[i - 1] === '--';
  parsed.patterns = words.slice(i);
  if (!literal) {
    for (const p of parsed.patterns) {
      const negatedFetch = p.startsWith('!') && Object.hasOwn(FETCHES, NAME.exec(p.slice(1))?.[0] ?? '');
      if (OPERATOR_WORDS.has(p) || negatedFetch) {
        fail('E_RULE_ACL_OPERATOR', `${show(p)}: an acl line holds one test, and HAProxy would match ${show(p)} as a pattern, not combine conditions; write one rule per test (or put -- before the patterns to match the literal text)`);
      }
      if (p.startsWith('-')) fail('E_RULE_ACL_FLAG', `${show(p)} looks like a flag after the patterns began; put -- before patterns that start with '-'`);
    }
  }
  // The test matches IPs when asked (-m ip) or when the sample is one: an IP fetch, or a chain ending in ipmask.
  const last = parsed.converters.at(-1);
  const ipSample = last === undefined ? IP_FETCHES.has(parsed.fetch) : last.name === 'ipmask';
  const ipTest = parsed.method === 'ip' || (parsed.method === undefined && ipSample);
  if (ipTest) {
    for (const p of parsed.patterns) {
      if (!isIpPattern(p)) fail('E_RULE_ACL_PATTERN', `${show(p)} is not an IP address or network; HAProxy would resolve it as a host name each time the config is checked`);
    }
  }
  if (parsed.flags.includes('-M') && parsed.files.length === 0) fail('E_RULE_ACL_FLAG', '-M reads the -f file as a map; it needs -f <file>');
  return parsed;
}

/**
 * The lexical half of the pattern-file rule: with no directory configured, no `-f`; with one, an absolute path
 * inside it without `.`/`..` segments. (Symlinks are resolved at the edge.)
 */
export function checkAclFiles(parsed: ParsedAcl, dir: string): void {
  for (const file of parsed.files) {
    if (!dir) fail('E_RULE_ACL_FILE', `-f ${show(file)}: pattern files are not allowed (no directory is configured: HAProxy.AclFilesDir / CULM_ACL_FILES_DIR)`);
    const base = dir.endsWith('/') ? dir : `${dir}/`;
    const segments = file.split('/');
    if (!file.startsWith('/') || segments.some((s) => s === '..' || s === '.') || !file.startsWith(base) || file.length === base.length) {
      fail('E_RULE_ACL_FILE', `-f ${show(file)}: a pattern file must be an absolute path inside ${base}`);
    }
  }
}
