/**
 * A unified line diff of two texts (`diff -u` style hunks, 3 lines of context), pure and bounded: the history
 * keeps one per apply, and a config at 10,000 apps is ~100,000 lines. Common leading and trailing lines are cut
 * first (an apply usually changes a few lines in one place); Myers' O((N+M)·D) search runs on what is left
 * and gives up past MAX_EDITS edits or MAX_WORK steps (it runs on the apply path), showing that middle line by
 * line when both sides have as many lines (changed servers), else as one replaced block. The output is cut at
 * `maxChars` on a line boundary, with a last line saying how much was left out.
 */

const CONTEXT = 3;
/** Past this many inserted + deleted lines, the middle is shown as one replaced block (time and memory ~D²). */
const MAX_EDITS = 400;
/** Steps of the search (diagonals tried and lines compared) before it gives up: a few ms. */
const MAX_WORK = 2_000_000;

type Op = { kind: ' ' | '-' | '+'; line: string };

function lines(text: string): string[] {
  if (text === '') return [];
  const out = text.split('\n');
  if (out[out.length - 1] === '') out.pop();
  return out;
}

/**
 * Myers' shortest edit script of a → b, or undefined past `maxEdits`. Keeps V for each d (2d+1 entries), so
 * memory is O(D²), not O((N+M)·D).
 */
function myers(a: readonly string[], b: readonly string[], maxEdits: number): Op[] | undefined {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, maxEdits);
  const trace: Int32Array[] = [];
  let v = new Int32Array(3).fill(0);
  let work = 0;
  for (let d = 0; d <= max; d++) {
    const next = new Int32Array(2 * d + 3);
    // next[k + d + 1] is the furthest x on diagonal k after d edits; v holds d-1's, offset d.
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && at(v, k - 1, d - 1) < at(v, k + 1, d - 1));
      let x = down ? at(v, k + 1, d - 1) : at(v, k - 1, d - 1) + 1;
      let y = x - k;
      const from = x;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      work += 1 + x - from;
      if (work > MAX_WORK) return undefined;
      next[k + d + 1] = x;
      if (x >= n && y >= m) {
        trace.push(next);
        return backtrack(a, b, trace);
      }
    }
    trace.push(next);
    v = next;
  }
  return undefined;
}

/** V of step d at diagonal k (0 outside: the virtual start). */
function at(v: Int32Array, k: number, d: number): number {
  const i = k + d + 1;
  return d < 0 || i < 0 || i >= v.length ? 0 : v[i];
}

function backtrack(a: readonly string[], b: readonly string[], trace: Int32Array[]): Op[] {
  const ops: Op[] = [];
  let x = a.length;
  let y = b.length;
  for (let d = trace.length - 1; d >= 0; d--) {
    const k = x - y;
    if (d === 0) {
      while (x > 0) ops.push({ kind: ' ', line: a[--x] });
      break;
    }
    const prev = trace[d - 1];
    const down = k === -d || (k !== d && at(prev, k - 1, d - 1) < at(prev, k + 1, d - 1));
    const prevK = down ? k + 1 : k - 1;
    const prevX = at(prev, prevK, d - 1);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      ops.push({ kind: ' ', line: a[--x] });
      y--;
    }
    if (down) ops.push({ kind: '+', line: b[--y] });
    else ops.push({ kind: '-', line: a[--x] });
  }
  return ops.reverse();
}

/**
 * The edit script of a → b: common ends cut (but the CONTEXT lines next to the middle), Myers in the middle, a
 * replaced block when that is too long; `skipped` is how many leading lines were cut (for the line numbers).
 */
function editScript(a: readonly string[], b: readonly string[]): { ops: Op[]; skipped: number } {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  const middle = myers(midA, midB, MAX_EDITS) ?? (midA.length === midB.length ? lineByLine(midA, midB) : [
    ...midA.map((line): Op => ({ kind: '-', line })), ...midB.map((line): Op => ({ kind: '+', line }))]);
  const skipped = Math.max(0, start - CONTEXT);
  const ops = [
    ...a.slice(skipped, start).map((line): Op => ({ kind: ' ', line })),
    ...middle,
    ...a.slice(endA, endA + CONTEXT).map((line): Op => ({ kind: ' ', line })),
  ];
  return { ops, skipped };
}

/** Two sides of as many lines, compared line for line: a valid (if not always shortest) script, in O(N). */
function lineByLine(a: readonly string[], b: readonly string[]): Op[] {
  const ops: Op[] = [];
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) ops.push({ kind: ' ', line: a[i] });
    else ops.push({ kind: '-', line: a[i] }, { kind: '+', line: b[i] });
  }
  return ops;
}

/**
 * Hunks of the script with CONTEXT lines around each change, as `@@ -a,n +b,m @@` blocks, until `maxChars`:
 * then a last line counts the changed lines left out.
 */
function hunks({ ops, skipped }: { ops: readonly Op[]; skipped: number }, maxChars: number): string[] {
  const out: string[] = [];
  let size = 0;
  const changed = ops.map((o, i) => (o.kind === ' ' ? -1 : i)).filter((i) => i >= 0);
  // Line numbers of ops[pos] in the old and new text, carried forward from hunk to hunk.
  let pos = 0;
  let lineA = skipped + 1;
  let lineB = skipped + 1;
  let c = 0;
  while (c < changed.length) {
    if (size > maxChars) {
      out.push(`… ${changed.length - c} more changed lines left out (over ${maxChars} characters)`);
      break;
    }
    const from = Math.max(0, changed[c] - CONTEXT);
    let to = changed[c];
    while (c + 1 < changed.length && changed[c + 1] - to <= 2 * CONTEXT) to = changed[++c];
    c++;
    const end = Math.min(ops.length, to + CONTEXT + 1);
    for (; pos < from; pos++) {
      if (ops[pos].kind !== '+') lineA++;
      if (ops[pos].kind !== '-') lineB++;
    }
    const body = ops.slice(from, end);
    const countA = body.filter((o) => o.kind !== '+').length;
    const countB = body.filter((o) => o.kind !== '-').length;
    const head = `@@ -${countA === 0 ? lineA - 1 : lineA},${countA} +${countB === 0 ? lineB - 1 : lineB},${countB} @@`;
    out.push(head);
    size += head.length + 1;
    for (const o of body) {
      out.push(o.kind + o.line);
      size += o.line.length + 2;
    }
  }
  return out;
}

export interface LineDiffOptions {
  /** Names for the `---`/`+++` lines. */
  from?: string;
  to?: string;
  /** Longest output, in characters (default 16,384). */
  maxChars?: number;
}

/** The unified diff of `before` → `after`; '' when they are the same. */
export function lineDiff(before: string, after: string, o: LineDiffOptions = {}): string {
  if (before === after) return '';
  const maxChars = o.maxChars ?? 16_384;
  const body = hunks(editScript(lines(before), lines(after)), maxChars);
  if (body.length === 0) return ''; // only a trailing newline differs
  return capped([`--- ${o.from ?? 'before'}`, `+++ ${o.to ?? 'after'}`, ...body], maxChars);
}

function capped(out: readonly string[], maxChars: number): string {
  let size = 0;
  for (let i = 0; i < out.length; i++) {
    size += out[i].length + 1;
    if (size > maxChars) return `${out.slice(0, i).join('\n')}\n… ${out.length - i} more diff lines left out (over ${maxChars} characters)\n`;
  }
  return `${out.join('\n')}\n`;
}
