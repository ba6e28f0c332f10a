import { readFileSync } from 'node:fs';
import t from 'tap';
import { SseParser, type SseMessage } from '../../src/marathon/sse.js';

const LF_FRAMES = readFileSync(new URL('../fixtures/marathon/master-1.10__events.txt', import.meta.url), 'utf8');
// Jetty writes CRLF line ends.
const CRLF_FRAMES = LF_FRAMES.replace(/\r?\n/g, '\r\n');
const enc = new TextEncoder();

function parseChunks(chunks: (Uint8Array | string)[]): SseMessage[] {
  const p = new SseParser();
  return chunks.flatMap((c) => p.push(c));
}

const FRAME_EVENTS = ['event_stream_attached', 'status_update_event', 'status_update_event'];

/** Event names, plus whether each data is the JSON of that event type. */
function summary(got: SseMessage[]): { events: string[]; dataIsJson: boolean } {
  return {
    events: got.map((m) => m.event),
    dataIsJson: got.every((m) => (JSON.parse(m.data) as { eventType: string }).eventType === m.event),
  };
}

t.test('real Marathon frames in one chunk, CRLF and LF', async (t) => {
  const want = { events: FRAME_EVENTS, dataIsJson: true };
  t.same(summary(parseChunks([enc.encode(CRLF_FRAMES)])), want, 'CRLF');
  t.same(summary(parseChunks([LF_FRAMES])), want, 'LF');
  t.same(summary(parseChunks([LF_FRAMES.replace(/\n/g, '\r')])), want, 'CR only');
});

t.test('real frames split at every byte position give the same messages', async (t) => {
  const bytes = enc.encode(CRLF_FRAMES);
  const whole = parseChunks([bytes]);
  t.equal(whole.length, 3);
  let mismatches = 0;
  for (let i = 0; i <= bytes.length; i++) {
    const got = parseChunks([bytes.subarray(0, i), bytes.subarray(i)]);
    if (JSON.stringify(got) !== JSON.stringify(whole)) mismatches++;
  }
  t.equal(mismatches, 0, `all ${bytes.length + 1} two-chunk splits agree`);
  const oneByOne = parseChunks(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)));
  t.same(oneByOne, whole, 'one byte per chunk');
});

t.test('random multi-splits with Jetty keepalives ("\\r" then "\\n" as separate writes) in between', async (t) => {
  const bytes = enc.encode(CRLF_FRAMES);
  const whole = parseChunks([bytes]);
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  // Keepalives may only sit between events (at a blank-line boundary), like Jetty's heartbeat.
  const boundaries: number[] = [];
  for (let i = 0; i + 3 < bytes.length; i++) if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) boundaries.push(i + 4);
  t.ok(boundaries.length >= 3, 'event ends found');
  for (let round = 0; round < 200; round++) {
    const chunks: Uint8Array[] = [enc.encode('\r'), enc.encode('\n')];
    let pos = 0;
    while (pos < bytes.length) {
      const len = 1 + rnd(40);
      const end = Math.min(bytes.length, pos + len);
      const ka = boundaries.find((b) => b > pos && b <= end);
      const cut = ka ?? end;
      chunks.push(bytes.subarray(pos, cut));
      if (ka !== undefined) chunks.push(enc.encode('\r'), enc.encode('\n'), enc.encode('\r\n'));
      pos = cut;
    }
    const got = parseChunks(chunks);
    if (JSON.stringify(got) !== JSON.stringify(whole)) {
      t.fail(`round ${round} differs`);
      return;
    }
  }
  t.pass('200 random splittings agree');
});

t.test('keepalives alone produce nothing but count as bytes', async (t) => {
  const p = new SseParser();
  t.same(p.push('\r'), []);
  t.same(p.push('\n'), []);
  t.same(p.push(enc.encode('\r\n\r\n\n\r')), []);
  t.equal(p.bytesReceived, 8);
  t.same(p.push('data: x\n\n'), [{ event: 'message', data: 'x' }], 'parser still in sync after keepalives');
});

t.test('CR at the end of a chunk followed by a non-LF chunk ends the line', async (t) => {
  t.same(parseChunks(['data: a\r', 'data: b\r', '\r']), [{ event: 'message', data: 'a\nb' }]);
  t.same(parseChunks(['data: a\r', '\n', '\r', '\n']), [{ event: 'message', data: 'a' }], 'CR|LF split counts once');
  // "\r" "\n" "\n": the split CRLF is one line end, the extra LF is the empty line
  t.same(parseChunks(['data: a\r', '\n', '\n']), [{ event: 'message', data: 'a' }]);
  t.same(parseChunks(['data: a\r', '', '\n', 'data: b\n\n']), [{ event: 'message', data: 'a\nb' }], 'empty chunk does not lose the pending CR');
});

t.test('UTF-8 split across chunks', async (t) => {
  const text = 'event: x\r\ndata: {"msg":"héllo € 😀 日本"}\r\n\r\n';
  const bytes = enc.encode(text);
  for (let i = 0; i <= bytes.length; i++) {
    const got = parseChunks([bytes.subarray(0, i), bytes.subarray(i)]);
    if (got.length !== 1 || got[0].data !== '{"msg":"héllo € 😀 日本"}') {
      t.fail(`split at ${i}: ${JSON.stringify(got)}`);
      return;
    }
  }
  t.pass('every split decodes');
  t.same(parseChunks([new Uint8Array([0xef, 0xbb, 0xbf]), 'data: bom\n\n']), [{ event: 'message', data: 'bom' }], 'leading BOM ignored');
});

const cases: { desc: string; input: string; want: SseMessage[] }[] = [
  { desc: 'data lines joined with LF', input: 'data: a\ndata: b\ndata\n\n', want: [{ event: 'message', data: 'a\nb\n' }] },
  { desc: 'only one leading space stripped', input: 'data:  two\ndata:none\n\n', want: [{ event: 'message', data: ' two\nnone' }] },
  { desc: 'comments ignored', input: ': hello\nevent: e\n:x\ndata: d\n\n', want: [{ event: 'e', data: 'd' }] },
  { desc: 'event without data dropped, type reset', input: 'event: lonely\n\ndata: d\n\n', want: [{ event: 'message', data: 'd' }] },
  { desc: 'empty data line still dispatches', input: 'data:\n\n', want: [{ event: 'message', data: '' }] },
  { desc: 'unknown fields and retry ignored', input: 'retry: 10\nfoo: bar\ndata: d\n\n', want: [{ event: 'message', data: 'd' }] },
  { desc: 'id persists', input: 'id: 7\ndata: a\n\ndata: b\n\n', want: [{ event: 'message', data: 'a', id: '7' }, { event: 'message', data: 'b', id: '7' }] },
  { desc: 'colon inside value kept', input: 'data: {"a":"b:c"}\n\n', want: [{ event: 'message', data: '{"a":"b:c"}' }] },
  { desc: 'unterminated event not dispatched', input: 'data: a\n', want: [] },
  { desc: 'field names are case-sensitive', input: 'Data: a\nEVENT: x\ndata: b\n\n', want: [{ event: 'message', data: 'b' }] },
];

t.test('WHATWG field rules', async (t) => {
  for (const c of cases) t.same(parseChunks([c.input]), c.want, c.desc);
});

t.test('a large event (api_post_event sized) streamed in small chunks', async (t) => {
  const data = JSON.stringify({ eventType: 'api_post_event', appDefinition: { env: { BIG: 'x'.repeat(1_000_000) } } });
  const bytes = enc.encode(`event: api_post_event\r\ndata: ${data}\r\n\r\n`);
  const p = new SseParser();
  const out: SseMessage[] = [];
  for (let i = 0; i < bytes.length; i += 1000) out.push(...p.push(bytes.subarray(i, i + 1000)));
  t.equal(out.length, 1);
  t.equal(out[0].data.length, data.length);
});
