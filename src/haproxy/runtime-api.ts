/**
 * HAProxy's runtime API over the stats socket (level admin): add, enable and remove servers of existing
 * backends without a reload. The CLI has no status codes: success and failure are read from the reply text
 * (see shared/reference/haproxy/NOTES.txt, §4). Every failure is an E_RUNTIME error; the caller then reloads.
 */
import { createConnection } from 'node:net';
import { CulmError } from '../core/errors.js';
import type { RuntimeOp } from './server-diff.js';

/** Sends `commands` in one connection (`;`-separated); resolves one reply per command. */
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
      sock.end(`${commands.join(';')}\n`);
    });
    sock.on('data', (d: string) => { out += d; });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(new CulmError('E_RUNTIME', `stats socket ${socketPath}: ${err.message}`, { cause: err }));
    });
    sock.on('close', () => {
      clearTimeout(timer);
      // Each reply ends with an empty line.
      const replies = out.split('\n\n').map((r) => r.trim());
      if (replies.length > 0 && replies[replies.length - 1] === '') replies.pop();
      while (replies.length < commands.length) replies.push('');
      resolve(replies.slice(0, commands.length));
    });
  });
}

const OK_REPLIES = [/^$/, /^New server registered\.?$/, /^Server deleted\.?$/];
const isOk = (reply: string): boolean => OK_REPLIES.some((r) => r.test(reply));

/** Runtime options `add server` accepts from a config `server` line (the rest would need a reload). */
const ADDABLE = /^(?:\s*(?:check|inter\s+\S+|fall\s+\d+|rise\s+\d+|weight\s+\d+|maxconn\s+\d+|backup|ssl|verify\s+\S+|sni\s+\S+|check-ssl|downinter\s+\S+|fastinter\s+\S+|port\s+\d+|addr\s+\S+))*\s*$/;

export function canAddAtRuntime(options: string): boolean {
  return ADDABLE.test(options);
}

/**
 * Applies the ops. Removals first: the server goes to maintenance at once (no new requests), then is
 * deleted; a server that still has connections stays in maintenance until the next reload (harmless: the
 * config file no longer has it). Adds: `add server`, then `enable health` (when checked) and `enable server`.
 */
export async function applyRuntimeOps(socketPath: string, ops: RuntimeOp[]): Promise<{ commands: number }> {
  let commands = 0;
  const run = async (cmds: string[], check: (replies: string[]) => void): Promise<void> => {
    commands += cmds.length;
    check(await runtimeCommands(socketPath, cmds));
  };
  for (const op of ops) {
    const id = `${op.backend}/${op.server.name}`;
    if (op.op === 'remove') {
      await run([`set server ${id} state maint`, `del server ${id}`], ([maint]) => {
        if (!isOk(maint) && !/No such server/i.test(maint)) throw new CulmError('E_RUNTIME', `set server ${id} state maint: ${maint}`);
        // A failed delete (connections still attached) is tolerated: the server is out of rotation.
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
  return { commands };
}
