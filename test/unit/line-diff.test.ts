/** The unified line diff: exact hunks on small cases; on random cases, its patch turns the old text into the new. */
import t from 'tap';
import { lineDiff } from '../../src/core/line-diff.js';

/** Applies a unified diff (as lineDiff writes it) to `before`: an independent check of every hunk. */
function patch(before: string, diff: string): string {
  const src = before === '' ? [] : before.replace(/\n$/, '').split('\n');
  const out: string[] = [];
  let pos = 0;
  const body = diff.split('\n').slice(2);
  for (let i = 0; i < body.length; i++) {
    const h = /^@@ -(\d+),(\d+) \+\d+,\d+ @@$/.exec(body[i]);
    if (!h) continue;
    const start = Number(h[2]) === 0 ? Number(h[1]) : Number(h[1]) - 1;
    while (pos < start) out.push(src[pos++]);
    for (i++; i < body.length && /^[ +-]/.test(body[i]); i++) {
      const [kind, line] = [body[i][0], body[i].slice(1)];
      if (kind === '+') out.push(line);
      else {
        if (src[pos] !== line) throw new Error(`hunk does not fit at line ${pos + 1}: ${JSON.stringify(line)} vs ${JSON.stringify(src[pos])}`);
        if (kind === ' ') out.push(line);
        pos++;
      }
    }
    i--;
  }
  while (pos < src.length) out.push(src[pos++]);
  return out.length ? `${out.join('\n')}\n` : '';
}

const text = (...l: string[]): string => l.map((x) => `${x}\n`).join('');

t.test('small cases', async (t) => {
  const cases: Array<{ desc: string; a: string; b: string; want: string }> = [
    { desc: 'same text', a: text('x', 'y'), b: text('x', 'y'), want: '' },
    { desc: 'one line changed', a: text('a', 'b', 'c'), b: text('a', 'B', 'c'), want: '--- before\n+++ after\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n' },
    { desc: 'added at the end', a: text('a'), b: text('a', 'b'), want: '--- before\n+++ after\n@@ -1,1 +1,2 @@\n a\n+b\n' },
    { desc: 'from nothing', a: '', b: text('a'), want: '--- before\n+++ after\n@@ -0,0 +1,1 @@\n+a\n' },
    {
      desc: 'far apart: two hunks, line numbers past the cut ends',
      a: text('1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12'),
      b: text('1', 'two', '3', '4', '5', '6', '7', '8', '9', '10', 'eleven', '12'),
      want: '--- before\n+++ after\n@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n@@ -8,5 +8,5 @@\n 8\n 9\n 10\n-11\n+eleven\n 12\n',
    },
  ];
  for (const c of cases) t.equal(lineDiff(c.a, c.b), c.want, c.desc);
});

t.test('the output is capped on a line boundary and says so', async (t) => {
  const a = text(...Array.from({ length: 500 }, (_, i) => `line ${i}`));
  const b = text(...Array.from({ length: 500 }, (_, i) => `LINE ${i}`));
  const d = lineDiff(a, b, { maxChars: 1000, from: 'x', to: 'y' });
  t.ok(d.length < 1100, `${d.length} characters`);
  t.match(d, /^--- x\n\+\+\+ y\n/);
  t.match(d, /\n… \d+ more diff lines left out \(over 1000 characters\)\n$/);
});

t.test('random edits: the patch gives the new text back; far past the edit bound it still does', async (t) => {
  let seed = 42;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let round = 0; round < 300; round++) {
    const a = Array.from({ length: rand(40) }, () => `l${rand(8)}`);
    const b = [...a];
    const edits = round < 290 ? rand(6) : 900;
    for (let e = 0; e < edits; e++) {
      const at = rand(b.length + 1);
      if (rand(2) === 0 && b.length > 0) b.splice(at, 1);
      else b.splice(at, 0, `n${rand(8)}`);
    }
    const before = text(...a);
    const after = text(...b);
    t.equal(patch(before, lineDiff(before, after, { maxChars: 1e9 })), after, `round ${round}`);
  }
});
