/**
 * HAProxy's output, made fit for a REST caller and the apply history: its reasons are kept ("unknown fetch
 * method 'foo'", "parsing [haproxy.cfg:12]" – the line number is how the applier finds the app at fault), what
 * is not the caller's to see is removed: the `[ALERT]    (12345) :` prefixes (pids), the temporary candidate's
 * path (shown as the output file's name), NOTICE lines (version, executable path), and the text HAProxy quotes
 * from a pattern file ("'root:*:…' is not a valid IPv4 … at line 1 of file …" keeps the line number and the
 * file, not the content). Pure; the raw text may go to the server log.
 */

const MAX_LINES = 6;
const MAX_LINE = 300;

export interface CleanOptions {
  /** Exact strings to replace (the candidate's path → the output's basename). */
  replace?: ReadonlyArray<readonly [from: string, to: string]>;
}

const PREFIX = /^\[(ALERT|WARNING|NOTICE)\]\s*(\(\d+\))?\s*:\s*/;
const NOISE = /^(Error\(s\) found in configuration file|Fatal errors found in configuration|Configuration file is valid|Warnings were found)/;

function cleanLine(raw: string, options: CleanOptions): string {
  let line = raw.replace(PREFIX, '').replace(/^(config|\(null\))\s*:\s*/, '').replace(/^\(null\)/, '');
  for (const [from, to] of options.replace ?? []) if (from) line = line.split(from).join(to);
  // A value quoted from a file: everything between the first and last quote before "at line N of file".
  const fromFile = / at line \d+ of (?:file|map file) '[^']*'/.exec(line);
  if (fromFile) {
    const head = line.slice(0, fromFile.index);
    const acl = /^(.*?ACL '[^']*' : )/.exec(head)?.[1] ?? '';
    const body = head.slice(acl.length).replace(/'.*'/s, "'…'");
    line = `${acl}${body}${line.slice(fromFile.index)}`;
  }
  line = line.replace(/\s+/g, ' ').trim();
  return line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line;
}

/** The lines worth showing: alerts first, else warnings, else anything but notices. */
export function cleanHaproxyOutput(output: string, options: CleanOptions = {}): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const alerts = lines.filter((l) => l.startsWith('[ALERT]'));
  const warnings = lines.filter((l) => l.startsWith('[WARNING]'));
  const picked = alerts.length > 0 ? alerts : warnings.length > 0 ? warnings : lines.filter((l) => !l.startsWith('[NOTICE]'));
  const cleaned = picked.map((l) => cleanLine(l, options)).filter((l) => l && !NOISE.test(l));
  return [...new Set(cleaned)].slice(0, MAX_LINES).join(' | ');
}
