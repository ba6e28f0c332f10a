/**
 * Pure: one section's lines cut from a config text (`backend <name>` to the next section), for the console's
 * per-app detail and the applier's certificate check (the `global` section). Comments and blank lines that open the next section are left to it.
 */
import { SECTION } from './server-diff.js';

/** The lines of `backend <name>`, its header first; empty when the text has no such backend. */
export const backendSection = (text: string, name: string): string[] => sectionOf(text, `backend ${name}`);

/** The lines of the section opened by the line `header` (`global`, `backend web`), its header first; empty when none. */
export function sectionOf(text: string, header: string): string[] {
  const at = headerAt(text, header);
  if (at < 0) return [];
  const lines: string[] = [];
  let from = at;
  while (from < text.length) {
    let to = text.indexOf('\n', from);
    if (to === -1) to = text.length;
    const line = text.slice(from, to).replace(/\s+$/, '');
    if (lines.length > 0 && SECTION.test(line)) break;
    lines.push(line);
    from = to + 1;
  }
  // What precedes the next section header (its comment, a blank line) belongs to it.
  while (lines.length > 1 && (lines.at(-1) === '' || /^#/.test(lines.at(-1)!))) lines.pop();
  return lines;
}

/** Where the line `header` (then a blank or the end of the line) starts, or -1. */
function headerAt(text: string, header: string): number {
  let start = text.startsWith(header) ? 0 : lineStart(text, header, 0);
  while (start >= 0) {
    const next = text[start + header.length];
    if (next === undefined || /\s/.test(next)) return start;
    start = lineStart(text, header, start + 1);
  }
  return -1;
}

const lineStart = (text: string, header: string, from: number): number => {
  const i = text.indexOf(`\n${header}`, from);
  return i < 0 ? -1 : i + 1;
};
