/**
 * HAProxy's runtime API over the stats socket (level admin): add, enable and remove servers of existing
 * backends without a reload. The CLI has no status codes: success and failure are read from the reply text
 * (see shared/reference/haproxy/NOTES.txt, §4). Every failure is an E_RUNTIME error; the caller then reloads.
 */
import { createConnection } from 'node:net';
import { CulmError } from '../core/errors.js';
import type { RuntimeOp } from './server-diff.js';

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
      resolve(splitReplies(out, commands.length));
    });
  });
}

/**
 * The replies of an interactive session: `prompt`'s own (empty) reply, then one per command, each followed by
 * the prompt. Missing replies (the connection ended early) are empty strings.
 */
export function splitReplies(out: string, count: number): string[] {
  const parts = `\n${out}`.split('\n> ').map((r) => r.trim());
  const replies = parts.slice(1, 1 + count);
  while (replies.length < count) replies.push('');
  return replies;
}

const OK_REPLIES = [/^$/, /^New server registered\.?$/, /^Server deleted\.?$/];
const isOk = (reply: string): boolean => OK_REPLIES.some((r) => r.test(reply));

/** Runtime options `add server` accepts from a config `server` line (the rest would need a reload). */
const ADDABLE = /^(?:\s*(?:check|inter\s+\S+|fall\s+\d+|rise\s+\d+|weight\s+\d+|maxconn\s+\d+|backup|ssl|verify\s+\S+|sni\s+\S+|check-ssl|downinter\s+\S+|fastinter\s+\S+|port\s+\d+|addr\s+\S+))*\s*$/;

export function canAddAtRuntime(options: string): boolean {
  return ADDABLE.test(options);
}

/** `del server` refused because requests or idle keep-alive connections still use the server. */
const STILL_CONNECTED = /still has connections|connection queue|cannot remove/i;

export interface RuntimeResult {
  commands: number;
  /**
   * Servers (`backend/name`) put in maintenance whose deletion HAProxy refused because connections still
   * use them: out of rotation already, deleted by a later `deleteServers` (or gone with the next reload).
   */
  lingering: string[];
}

/**
 * Applies the ops. Removals first: the server goes to maintenance at once (no new requests), then is
 * deleted; a server that still has connections stays in maintenance (reported in `lingering`, harmless:
 * the config file no longer has it). Adds: `add server` (or the lingering server of that name, taken back),
 * then `enable health` (when checked) and `state ready`.
 */
export async function applyRuntimeOps(socketPath: string, ops: RuntimeOp[]): Promise<RuntimeResult> {
  let commands = 0;
  const lingering: string[] = [];
  const run = async (cmds: string[], check: (replies: string[]) => void): Promise<void> => {
    commands += cmds.length;
    check(await runtimeCommands(socketPath, cmds));
  };
  for (const op of ops) {
    const id = `${op.backend}/${op.server.name}`;
    if (op.op === 'remove') {
      await run([`set server ${id} state maint`, `del server ${id}`], ([maint, del]) => {
        if (!isOk(maint) && !/No such server/i.test(maint)) throw new CulmError('E_RUNTIME', `set server ${id} state maint: ${maint}`);
        if (STILL_CONNECTED.test(del)) lingering.push(id);
        else if (!isOk(del) && !/No such server/i.test(del)) throw new CulmError('E_RUNTIME', `del server ${id}: ${del}`);
      });
      continue;
    }
    if (!canAddAtRuntime(op.server.options)) throw new CulmError('E_RUNTIME', `server options need a reload: ${op.server.options}`);
    const addr = `${op.server.address}:${op.server.port}`;
    const checked = /\bcheck\b/.test(op.server.options);
    await run([`add server ${id} ${addr}${op.server.options ? ` ${op.server.options}` : ''}`], ([reply]) => {
      if (/already exists/i.test(reply)) return; // left in maintenance by an earlier removal: reused below
      if (!isOk(reply)) throw new CulmError('E_RUNTIME', `add server ${id}: ${reply}`);
    });
    const enable = [`set server ${id} addr ${op.server.address} port ${op.server.port}`, ...(checked ? [`enable health ${id}`] : []), `set server ${id} state ready`];
    await run(enable, (replies) => {
      const bad = replies.find((r) => !isOk(r) && !/changed|no need to change/i.test(r));
      if (bad !== undefined) throw new CulmError('E_RUNTIME', `enable ${id}: ${bad}`);
    });
  }
  return { commands, lingering };
}

/**
 * Tries again to delete servers left in maintenance (`backend/name`). Resolves with those still refused
 * (connections still attached); a server already gone counts as deleted. Never makes a server take traffic.
 */
export async function deleteServers(socketPath: string, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const replies = await runtimeCommands(socketPath, ids.map((id) => `del server ${id}`));
  return ids.filter((_, i) => STILL_CONNECTED.test(replies[i]));
}
