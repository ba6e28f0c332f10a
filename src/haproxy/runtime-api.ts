/**
 * HAProxy's runtime API over the stats socket (level admin): add, enable and remove servers of existing
 * backends without a reload, and read their live state (`show stat`). The CLI has no status codes: success
 * and failure are read from the reply text (see shared/reference/haproxy/NOTES.txt, §4). Every failure is an
 * E_RUNTIME error; the caller then reloads.
 */
import { createConnection } from 'node:net';
import { CulmError } from '../core/errors.js';
import { mapEditCommands, type MapEdit } from './map-edits.js';
import type { RuntimeOp, ServerLine } from './server-diff.js';
import { parseServerStats, type ServerStat } from './server-stats.js';

/**
 * Sends `commands` in one connection, in the CLI's interactive mode: every reply ends with the `> ` prompt
 * line, which is the only reliable framing (without it, some replies end with a blank line and some do not,
 * so a `;`-joined batch cannot be split back into replies). Resolves one trimmed reply per command.
 */
export function runtimeCommands(socketPath: string, commands: string[], timeoutMs = 2000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let out = '';
    const sock = createConnection(socketPath);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new CulmError('E_RUNTIME', `stats socket ${socketPath}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => {
      sock.end(`prompt\n${commands.join('\n')}\nquit\n`);
    });
    sock.on('data', (d: string) => { out += d; });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(new CulmError('E_RUNTIME', `stats socket ${socketPath}: ${err.message}`, { cause: err }));
    });
    sock.on('close', () => {
      clearTimeout(timer);
      const replies = splitReplies(out, commands.length);
      if (replies) resolve(replies);
      else reject(new CulmError('E_RUNTIME', `stats socket ${socketPath}: the answer to ${commands.length} command(s) was cut short or not understood (${out.length} bytes)`));
    });
  });
}

/**
 * The replies of an interactive session: `prompt`'s own (empty) reply, then one per command, each followed by
 * the prompt, and nothing after the last prompt (`quit` has no reply). Anything else (a connection that closed
 * early, an answer with more or fewer prompts) is null: which commands ran cannot be known.
 */
export function splitReplies(out: string, count: number): string[] | null {
  const parts = `\n${out}`.split('\n> ');
  if (parts.length !== count + 2 || parts[count + 1] !== '' || parts[0].trim() !== '') return null;
  return parts.slice(1, 1 + count).map((r) => r.trim());
}

/**
 * The reply to `command`, read as it arrives and handed on in pieces of whole lines passed through `line` (the
 * interactive session's framing, as in `runtimeCommands`, whose checks it keeps: nothing but blank lines before
 * the first prompt, nothing after the last, the reply trimmed and ended by a newline). For replies of tens of
 * MB, never held whole: `show servers state` at 100,000 servers is ~18 MB, which as one string (plus its
 * copies) was the peak of culm's memory at each reload. Throws E_RUNTIME like `runtimeCommands`.
 */
export async function* streamReply(socketPath: string, command: string, line: (text: string, index: number) => string, timeoutMs = 2000): AsyncGenerator<string> {
  const sock = createConnection(socketPath);
  const timer = setTimeout(() => sock.destroy(new CulmError('E_RUNTIME', `stats socket ${socketPath}: no answer within ${timeoutMs} ms`)), timeoutMs);
  sock.setEncoding('utf8');
  sock.on('connect', () => sock.end(`prompt\n${command}\nquit\n`));
  let rest = '';
  let inReply = false;
  let index = 0;
  /** The reply's last non-blank line and the blank lines after it: written once more of the reply follows (it is trimmed). */
  let held: string | undefined;
  let blanks = '';
  const take = (text: string): string => {
    if (!inReply) {
      if (!text.startsWith('> ')) {
        if (text.trim() !== '') throw new Error('text before the first prompt');
        return '';
      }
      inReply = true;
      text = text.slice(2).trimStart();
      if (text === '') return '';
    } else if (text.startsWith('> ')) {
      throw new Error('more than one reply');
    }
    if (held === undefined && text.trim() === '') return '';
    const out = line(text, index++);
    if (out.trim() === '') {
      blanks += `${out}\n`;
      return '';
    }
    const written = held === undefined ? '' : `${held}\n${blanks}`;
    held = out;
    blanks = '';
    return written;
  };
  try {
    for await (const chunk of sock as AsyncIterable<string>) {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      let out = '';
      for (const l of lines) out += take(l);
      if (out) yield out;
    }
    // The last prompt ends the reply, with nothing after it.
    if (!inReply || rest !== '> ') throw new Error('cut short');
    if (held !== undefined) yield `${held.trimEnd()}\n`;
  } catch (err) {
    if (err instanceof CulmError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new CulmError('E_RUNTIME', e.code ? `stats socket ${socketPath}: ${e.message}` : `stats socket ${socketPath}: the answer to ${command} was cut short or not understood (${e.message})`, { cause: err });
  } finally {
    clearTimeout(timer);
    sock.destroy();
  }
}

const OK_REPLIES = [/^$/, /^New server registered\.?$/, /^Server deleted\.?$/];
const isOk = (reply: string): boolean => OK_REPLIES.some((r) => r.test(reply));

/** Runtime options `add server` accepts from a config `server` line (the rest would need a reload). */
const ADDABLE = /^(?:\s*(?:check|inter\s+\S+|fall\s+\d+|rise\s+\d+|weight\s+\d+|maxconn\s+\d+|backup|ssl|verify\s+\S+|sni\s+\S+|check-ssl|downinter\s+\S+|fastinter\s+\S+|port\s+\d+|addr\s+\S+))*\s*$/;

export function canAddAtRuntime(options: string): boolean {
  return ADDABLE.test(options);
}

/** `del server` refused because requests or idle keep-alive connections still use the server. */
const STILL_CONNECTED = /still has connections|cannot remove/i;

export interface RuntimeResult {
  commands: number;
  /**
   * Servers (`backend/name`, with the line they were added with) put in maintenance whose deletion HAProxy
   * refused because connections still use them: out of rotation already, deleted by a later `deleteServers`
   * (or gone with the next reload).
   */
  lingering: Array<[string, ServerLine]>;
}

/**
 * Applies the ops, in order. A weight: `set server … weight`; a maxconn: `set maxconn server …`. A removal: the server goes to maintenance at once (no new requests), then is
 * deleted; a server that still has connections stays in maintenance (reported in `lingering`, harmless:
 * the config file no longer has it). Adds: `add server`, then `enable health` (when checked) and `state
 * ready`. An add whose name is still taken by a lingering server (`known`, or removed earlier in this batch)
 * takes that server back, but only when its line had the same options (weight, checks, ssl…): only the
 * address and port can be changed at runtime, so anything else throws, and the caller reloads.
 */
export async function applyRuntimeOps(socketPath: string, ops: RuntimeOp[], known: ReadonlyMap<string, ServerLine> = new Map()): Promise<RuntimeResult> {
  let commands = 0;
  const lingering = new Map<string, ServerLine>();
  const run = async (cmds: string[], check: (replies: string[]) => void): Promise<void> => {
    commands += cmds.length;
    check(await runtimeCommands(socketPath, cmds));
  };
  // Nothing is sent when one of the adds needs a reload anyway.
  const unaddable = ops.find((o) => o.op === 'add' && !canAddAtRuntime(o.server.options));
  if (unaddable) throw new CulmError('E_RUNTIME', `server options need a reload: ${unaddable.server.options}`);
  for (const op of ops) {
    const id = `${op.backend}/${op.server.name}`;
    if (op.op === 'weight' || op.op === 'maxconn') {
      // A live server, changed in place: its connections and its state (drain, maint) stay as they are.
      const command = op.op === 'weight' ? `set server ${id} weight ${op.weight}` : `set maxconn server ${id} ${op.maxconn}`;
      await run([command], ([reply]) => {
        if (!isOk(reply)) throw new CulmError('E_RUNTIME', `${command}: ${reply}`);
      });
      continue;
    }
    if (op.op === 'remove') {
      await run([`set server ${id} state maint`, `del server ${id}`], ([maint, del]) => {
        if (!isOk(maint) && !/No such server/i.test(maint)) throw new CulmError('E_RUNTIME', `set server ${id} state maint: ${maint}`);
        if (STILL_CONNECTED.test(del)) lingering.set(id, op.server);
        else if (!isOk(del) && !/No such server/i.test(del)) throw new CulmError('E_RUNTIME', `del server ${id}: ${del}`);
      });
      continue;
    }
    const addr = `${op.server.address}:${op.server.port}`;
    const checked = /\bcheck\b/.test(op.server.options);
    await run([`add server ${id} ${addr}${op.server.options ? ` ${op.server.options}` : ''}`], ([reply]) => {
      if (/already exists/i.test(reply)) {
        const was = lingering.get(id) ?? known.get(id);
        if (was === undefined || was.options !== op.server.options) {
          throw new CulmError('E_RUNTIME', `add server ${id}: a server of that name is still in HAProxy${was ? ` with other options (${was.options || 'none'})` : ''}`);
        }
        lingering.delete(id); // taken back below
        return;
      }
      if (!isOk(reply)) throw new CulmError('E_RUNTIME', `add server ${id}: ${reply}`);
    });
    const enable = [`set server ${id} addr ${op.server.address} port ${op.server.port}`, ...(checked ? [`enable health ${id}`] : []), `set server ${id} state ready`];
    await run(enable, (replies) => {
      const bad = replies.find((r) => !isOk(r) && !/changed|no need to change/i.test(r));
      if (bad !== undefined) throw new CulmError('E_RUNTIME', `enable ${id}: ${bad}`);
    });
  }
  return { commands, lingering: [...lingering] };
}

/**
 * Tries again to delete servers left in maintenance (`backend/name`). Resolves with those still refused
 * (connections still attached); a server already gone counts as deleted. Never makes a server take traffic.
 */
export async function deleteServers(socketPath: string, ids: readonly string[]): Promise<string[]> {
  const still: string[] = [];
  // HAProxy 2.6 sometimes ends a long pipelined session early (seen from ~1,000 commands): small sessions.
  for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
    const chunk = ids.slice(i, i + DELETE_CHUNK);
    const replies = await runtimeCommands(socketPath, chunk.map((id) => `del server ${id}`));
    still.push(...chunk.filter((_, j) => STILL_CONNECTED.test(replies[j])));
  }
  return still;
}

/** `del server` commands per socket session. */
const DELETE_CHUNK = 200;

/**
 * Payload bytes per `add map` command: HAProxy 2.6 reads a command and its payload into one buffer
 * (`tune.bufsize`, 16 KB by default) and resets the connection beyond it (seen at 33 KB).
 */
const MAP_PAYLOAD_BYTES = 8000;

/** `prepare map`'s answer: the version the next `add map @<v>` lines fill. */
const NEW_VERSION = /^New version created:\s*(\d+)/;

/**
 * Replaces the whole content of a live map with `text` (`<key> <value>` lines, in order) atomically, through
 * HAProxy's versioned maps (2.2+): `prepare map` opens a new version, `add map @<v>` fills it in payload chunks,
 * `commit map @<v>` swaps it in at once, so no lookup ever sees half a map, and the order of the lines (which
 * `map_beg` answers by: first match wins) is kept. `live` names the map as the running process loaded it (the
 * file name in the config it started with). A failure before the commit leaves the live map as it was.
 */
export async function replaceMap(socketPath: string, live: string, text: string): Promise<{ commands: number; entries: number }> {
  const [prepared = ''] = await runtimeCommands(socketPath, [`prepare map ${live}`]);
  const version = NEW_VERSION.exec(prepared)?.[1];
  if (version === undefined) throw new CulmError('E_RUNTIME', `prepare map ${live}: ${prepared || 'no answer'}`);
  const commands: string[] = [];
  let chunk = '';
  let entries = 0;
  const flush = (): void => {
    // The payload ends at the first empty line: the joined commands put one after each chunk.
    if (chunk) commands.push(`add map @${version} ${live} <<\n${chunk}`);
    chunk = '';
  };
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    if (chunk.length + line.length + 1 > MAP_PAYLOAD_BYTES) flush();
    chunk += `${line}\n`;
    entries++;
  }
  flush();
  commands.push(`commit map @${version} ${live}`);
  // Interactive mode prints a `+ ` prompt for each payload line before the command's own (empty) reply.
  const replies = (await runtimeCommands(socketPath, commands, 5000)).map((r) => r.replace(/^(?:\+ ?)+/, '').trim());
  const bad = replies.findIndex((r) => r !== '');
  if (bad !== -1) throw new CulmError('E_RUNTIME', `${commands[bad].split('\n')[0]}: ${replies[bad]}`);
  return { commands: commands.length + 1, entries };
}

/**
 * A few entry edits on the live map `live` (map-edits.ts) in one session. Every command answers nothing when
 * it did its job; any answer (`Key not found.`) is an E_RUNTIME error, and the caller reloads from the file.
 */
export async function editMap(socketPath: string, live: string, edits: readonly MapEdit[]): Promise<{ commands: number }> {
  const commands = mapEditCommands(live, edits);
  const replies = await runtimeCommands(socketPath, commands);
  const bad = replies.findIndex((r) => r !== '');
  if (bad !== -1) throw new CulmError('E_RUNTIME', `${commands[bad]}: ${replies[bad]}`);
  return { commands: commands.length };
}

/** Backends read per `show stat` session (a reply is one CSV line a server: a few KB a backend). */
const STAT_CHUNK = 50;

/**
 * HAProxy's live view of the servers of `backends` (`show stat <backend> 4 -1`): status, sessions, last check.
 * Read-only. A backend HAProxy does not have has no servers; a name with a blank (which would end the command)
 * is never sent.
 */
export async function showServerStats(socketPath: string, backends: readonly string[], timeoutMs = 2000): Promise<ServerStat[]> {
  const names = backends.filter((b) => /^\S+$/.test(b));
  const out: ServerStat[] = [];
  for (let i = 0; i < names.length; i += STAT_CHUNK) {
    const replies = await runtimeCommands(socketPath, names.slice(i, i + STAT_CHUNK).map((b) => `show stat ${b} 4 -1`), timeoutMs);
    for (const reply of replies) out.push(...parseServerStats(reply));
  }
  return out;
}
