import t from 'tap';
import { PassThrough } from 'node:stream';
import { callHook, createLogger } from '../../src/log/logger.js';

t.test('a hook that throws is logged with its name and does not throw into the caller', async (t) => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => { text += d.toString(); });
  const log = createLogger('debug', out);
  let ran = false;
  callHook(log, 'onEvent', () => { ran = true; });
  t.ok(ran, 'a hook that does not throw just runs');
  t.doesNotThrow(() => callHook(log, 'onEvent', () => { throw new Error('boom'); }));
  callHook(log, 'onRequest', () => { throw new Error('quiet'); }, 'debug');
  await new Promise((r) => setImmediate(r));
  const lines = text.trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string; err?: { message: string } });
  t.same(lines.map((l) => [l.msg, l.err?.message]), [['onEvent hook threw', 'boom'], ['onRequest hook threw', 'quiet']]);
  t.same(lines.map((l) => l.level), [50, 20], 'at the level asked: error, debug');
});
