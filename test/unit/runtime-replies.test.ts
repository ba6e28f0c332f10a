/** Framing of the stats socket's interactive answers (as HAProxy 2.6.12 writes them, captured here). */
import t from 'tap';
import { splitReplies } from '../../src/haproxy/runtime-api.js';

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
