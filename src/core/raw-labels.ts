/**
 * marathon-lb's raw HAProxy labels, the per-app overrides of its templates that land in an app's own sections:
 * `HAPROXY_{n}_BACKEND_HEAD`, `_BACKEND_HTTP_OPTIONS` and `_BACKEND_HSTS_OPTIONS` (port n's backend),
 * `HAPROXY_{n}_FRONTEND_HEAD`, `_FRONTEND_BACKEND_GLUE` and `_BIND_OPTIONS` (words after the `bind` line's address)
 * in port n's own service-port frontend, never the shared `http-in`. Any app owner
 * writes these, so culm writes them only when the operator trusts them (`HAProxy.TrustLabelConfig`), and a
 * value is refused (its port left out) when a line could leave its section: a line starting a section
 * (`backend`, `global`, …) or a `.if`-style directive, a NUL or another control character. marathon-lb's
 * `{placeholder}` syntax is read as its `str.format` did (`{{` and `}}` are braces); an unknown placeholder is
 * refused rather than written. A value that passes and still breaks `haproxy -c` leaves its app out
 * (apply.ts isolation, as any app). Pure.
 */
import type { App } from './model.js';
import { MULTI_LINE_CONTROL, RAW_CONFIG_LABEL, shown } from './input-grammar.js';

export type RawLabel = 'BACKEND_HEAD' | 'BACKEND_HTTP_OPTIONS' | 'BACKEND_HSTS_OPTIONS' | 'FRONTEND_HEAD' | 'FRONTEND_BACKEND_GLUE' | 'BIND_OPTIONS';

interface RawSpec {
  /** The section header marathon-lb's template of this name starts with, dropped (culm writes the header). */
  header?: string;
  /** The placeholders marathon-lb fills in; null: it writes the value as is (braces are literal). */
  placeholders: readonly string[] | null;
  /** Words that end a line culm writes (`bind <address>:<port> …`): one line, no `#` (it would cut culm's words off). */
  words?: true;
}

const SPECS: Readonly<Record<RawLabel, RawSpec>> = {
  BACKEND_HEAD: { header: 'backend {backend}', placeholders: ['backend', 'balance', 'mode'] },
  BACKEND_HTTP_OPTIONS: { placeholders: null },
  BACKEND_HSTS_OPTIONS: { placeholders: null },
  FRONTEND_HEAD: { header: 'frontend {backend}', placeholders: ['backend', 'bindAddr', 'servicePort', 'mode', 'sslCert', 'bindOptions'] },
  FRONTEND_BACKEND_GLUE: { placeholders: ['backend'] },
  BIND_OPTIONS: { placeholders: null, words: true },
};

export const RAW_LABELS = Object.freeze(Object.keys(SPECS) as RawLabel[]);

/**
 * Keywords that open a section in HAProxy 2.6 (and later versions' new ones): a line starting with one would
 * move every following line, culm's included, into a section the app does not own.
 */
const SECTIONS = new Set([
  'global', 'defaults', 'frontend', 'backend', 'listen', 'peers', 'resolvers', 'userlist', 'program', 'cache',
  'ring', 'mailers', 'http-errors', 'log-forward', 'fcgi-app', 'namespace_list', 'crt-store', 'traces', 'acme',
]);

/** The first word of a raw line: what every HAProxy keyword looks like, nothing HAProxy would unquote or fill. */
const PLAIN_KEYWORD = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const PLACEHOLDER = /\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

const lines = (value: string): string[] => value.split(/\r?\n/);
const words = (line: string): string => line.trim().replace(/\s+/g, ' ');

/** Why `value` cannot be written for raw label `name` ('' when it can). */
export function rawLabelProblem(name: RawLabel, value: string): string {
  // U+FFFD: where the app came in, a NUL or another control character was made one (input-grammar.ts).
  if (value.includes('\u0000') || value.includes('\ufffd')) return 'contains a NUL or another control character';
  if (MULTI_LINE_CONTROL.test(value)) return 'contains a control character (only newlines and tabs are allowed)';
  const spec = SPECS[name];
  if (spec.words) {
    if (/[\r\n]/.test(value)) return 'spans lines: bind options are words on the bind line';
    if (value.includes('#')) return 'contains # (HAProxy would read the rest of the bind line as a comment)';
  }
  let first = true;
  for (const [i, line] of lines(value).entries()) {
    const text = words(line);
    if (!text) continue;
    const isHeader = first && spec.header !== undefined && text === spec.header;
    first = false;
    if (isHeader) continue;
    const raw = text.split(' ')[0];
    if (raw.startsWith('#')) continue; // a comment: HAProxy reads nothing of it
    // HAProxy unquotes and unescapes a word (`"global"`, `g"lobal"`, `\x67lobal`) before it reads it as a
    // section keyword or a `.if`, and a placeholder (`{sslCert}backend`) is filled after this check: a line's
    // first word must be a plain keyword, as every HAProxy keyword is.
    if (!PLAIN_KEYWORD.test(raw)) return `line ${i + 1} starts with ${shown(raw)}, not a plain keyword (letters, digits, ._-; no quote, escape, $ or placeholder): it could open a section HAProxy reads after unquoting`;
    const word = raw.toLowerCase();
    if (SECTIONS.has(word)) return `line ${i + 1} starts a new section (${shown(word)}): raw lines stay in the app's own section`;
    if (word.startsWith('.')) return `line ${i + 1} is a ${shown(word)} directive, which would reach past the app's own section`;
    if (spec.placeholders) {
      for (const m of line.matchAll(PLACEHOLDER)) {
        if (m[1] !== undefined && !spec.placeholders.includes(m[1])) {
          return `line ${i + 1} names {${m[1]}}, not one of marathon-lb's placeholders here (${spec.placeholders.map((p) => `{${p}}`).join(', ')}; {{ and }} for braces)`;
        }
      }
    }
  }
  return '';
}

/** A port's raw labels: their values by kind, and why they cannot be written ('' when they can). */
export interface RawPort {
  readonly values: Readonly<Partial<Record<RawLabel, string>>>;
  /** The labels, by name (`HAPROXY_1_BACKEND_HEAD`), for log lines. */
  readonly labels: readonly string[];
  readonly problem: string;
}

/** The labels written only in a service port's own frontend. */
const FRONTEND_ONLY: ReadonlySet<RawLabel> = new Set(['FRONTEND_HEAD', 'FRONTEND_BACKEND_GLUE', 'BIND_OPTIONS']);

/**
 * The raw labels an app carries, by port index (only ports that have one); undefined for most apps. Without
 * service-port frontends (`ownFrontends` off: HAProxy.BindServicePorts), those only such a frontend reads are
 * not there: ignored, never refused.
 */
export function rawPortsOf(app: App, ownFrontends = true): ReadonlyMap<number, RawPort> | undefined {
  let found: Map<number, { values: Partial<Record<RawLabel, string>>; labels: string[]; problems: string[] }> | undefined;
  for (const label in app.labels) {
    const m = RAW_CONFIG_LABEL.exec(label);
    if (!m) continue;
    const index = Number(m[1]);
    const kind = m[2] as RawLabel;
    if (!ownFrontends && FRONTEND_ONLY.has(kind)) continue;
    found ??= new Map();
    const port = found.get(index) ?? { values: {}, labels: [], problems: [] };
    port.values[kind] = app.labels[label];
    port.labels.push(label);
    const why = rawLabelProblem(kind, app.labels[label]);
    if (why) port.problems.push(`label ${label} ${why}: port ${index} left out`);
    found.set(index, port);
  }
  if (!found) return undefined;
  const out = new Map<number, RawPort>();
  for (const [index, p] of found) out.set(index, Object.freeze({ values: Object.freeze(p.values), labels: Object.freeze(p.labels.sort()), problem: p.problems.join('; ') }));
  return out;
}

/**
 * The lines to write for a value that passed `rawLabelProblem`: placeholders filled (where marathon-lb fills
 * them), marathon-lb's section header dropped, lines equal to one culm already writes in that section
 * (`own`: its `bind`, `mode`…) dropped, blank lines dropped, each indented as culm's.
 */
export function rawLines(name: RawLabel, value: string, values: Readonly<Record<string, string | number>>, own: readonly string[] = []): string[] {
  const spec = SPECS[name];
  const fill = (line: string): string => (spec.placeholders
    ? line.replace(PLACEHOLDER, (m: string, key: string | undefined) => (key === undefined ? m[0] : String(values[key] ?? '')))
    : line);
  const skip = new Set(own.map(words));
  const out: string[] = [];
  let first = true;
  for (const line of lines(value)) {
    if (!words(line)) continue;
    const header = first && words(line) === spec.header;
    first = false;
    const text = fill(line).trim();
    if (header || !text || skip.has(words(text))) continue;
    out.push(`    ${text}`);
  }
  return out;
}

/** `HAPROXY_{n}_BIND_OPTIONS` as written after the bind line's address: its words, one space apart ('' for none). */
export const bindOptionWords = (value: string | undefined): string => (value === undefined ? '' : words(value));

/**
 * The labels as a template sees them without HAProxy.TrustLabelConfig: raw labels' newlines (the only control
 * characters they keep where the app comes in) made U+FFFD like any other label's, so a template that prints
 * `Labels` writes one line, never lines culm did not check.
 */
export function withoutRawNewlines(labels: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  let out: Record<string, string> | undefined;
  for (const key in labels) {
    if (!RAW_CONFIG_LABEL.test(key) || !/[\r\n\t]/.test(labels[key])) continue;
    out ??= { ...labels };
    out[key] = labels[key].replace(/[\r\n\t]/g, '\ufffd');
  }
  // Every raw label is cleaned, those the view ignores too (frontend-only labels without service-port frontends).
  return out ?? labels;
}
