/** Framing of the stats socket's interactive answers (as HAProxy 2.6.12 writes them, captured here). */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { splitReplies, streamReply } from '../../src/haproxy/runtime-api.js';

// `prompt`, then: set server … state ready, del server (refused), set server … state maint, add server,
// del server, del server (no such), enable health (refused), then `quit`.
const captured = '\n> \n> Only servers in maintenance mode can be deleted.\n> \n> New server registered.\n\n> Server deleted.\n> No such server.\n> Health check was not configured on this server, cannot enable.\n\n> ';

t.test('one reply per command, whatever each one ends with', async (t) => {
  t.same(splitReplies(captured, 7), [
    '', 'Only servers in maintenance mode can be deleted.', '', 'New server registered.', 'Server deleted.', 'No such server.',
    'Health check was not configured on this server, cannot enable.',
  ]);
  t.same(splitReplies('\n> 1\n# be_id be_name\n3 b 1 s1 127.0.0.1 2 0\n\n> ', 1), ['1\n# be_id be_name\n3 b 1 s1 127.0.0.1 2 0'], 'a multi-line reply');
});

t.test('an answer that cannot be read as exactly one reply per command is refused (null), never taken for success', async (t) => {
  const table: Array<[string, string, number]> = [
    ['nothing at all (connection closed at once)', '', 2],
    ['only the prompt', '\n> ', 2],
    ['cut short after the first reply', '\n> \n> Only servers', 2],
    ['cut short before the last prompt', captured.slice(0, -2), 7],
    ['one prompt more than commands', captured, 6],
    ['one prompt fewer', captured, 8],
    ['text after the last prompt', `${captured}Unknown command`, 7],
    ['not an interactive answer', 'Unknown command.\n\n', 1],
  ];
  for (const [desc, out, count] of table) t.equal(splitReplies(out, count), null, desc);
});

/** A socket that answers every session with `answer`, written in pieces of `piece` characters. */
async function cannedCli(t: { teardown(fn: () => void): void }, answer: string, piece: number): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'culm-reply-')), 's.sock');
  const server = createServer({ allowHalfOpen: true }, (sock: Socket) => {
    sock.on('error', () => undefined); // the reader gave up on a bad answer
    sock.once('data', async () => {
      for (let i = 0; i < answer.length; i += piece) {
        if (sock.destroyed) return;
        sock.write(answer.slice(i, i + piece));
        await new Promise((r) => setImmediate(r));
      }
      sock.end();
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => server.close());
  return path;
}

const streamed = async (path: string, line: (text: string, index: number) => string = (l) => l): Promise<string> => {
  let out = '';
  for await (const piece of streamReply(path, 'show servers state', line)) out += piece;
  return out;
};

t.test('a streamed reply is the one splitReplies reads, trimmed and ended by a newline, wherever the pieces split it', async (t) => {
  const state = '\n> 1\n# be_id be_name srv_id srv_name\n3 b 1 s1\n\n3 b 2 s2  \n\n> ';
  const expected = `${splitReplies(state, 1)![0]}\n`;
  for (const piece of [1, 2, 3, 7, 1000]) {
    t.equal(await streamed(await cannedCli(t, state, piece)), expected, `pieces of ${piece}`);
  }
  const seen: Array<[string, number]> = [];
  const upper = await streamed(await cannedCli(t, state, 5), (l, i) => {
    seen.push([l, i]);
    return l.toUpperCase();
  });
  t.equal(upper, expected.toUpperCase(), 'each line passes through the transform');
  t.same(seen, [['1', 0], ['# be_id be_name srv_id srv_name', 1], ['3 b 1 s1', 2], ['', 3], ['3 b 2 s2  ', 4], ['', 5]], 'lines numbered in order from the reply\'s first');
});

t.test('a streamed reply that splitReplies would refuse is an E_RUNTIME error, never a partial file taken for the reply', async (t) => {
  const full = '\n> 1\n# be_id\n3 b 1 s1\n\n> ';
  const table: Array<[string, string]> = [
    ['nothing at all', ''],
    ['cut short before the last prompt', full.slice(0, -2)],
    ['cut short inside a line', full.slice(0, 12)],
    ['text after the last prompt', `${full}Unknown command`],
    ['two replies', '\n> 1\n> 2\n> '],
    ['not an interactive answer', 'Unknown command.\n\n'],
  ];
  for (const [desc, answer] of table) {
    await t.rejects(streamed(await cannedCli(t, answer, 3)), { code: 'E_RUNTIME' }, desc);
  }
  await t.rejects(streamed(join(mkdtempSync(join(tmpdir(), 'culm-reply-')), 'none.sock')), { code: 'E_RUNTIME', message: /ENOENT/ }, 'no socket');
});
