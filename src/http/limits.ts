/**
 * How many sockets the REST server may hold, from the process's open-file limit (`ulimit -n`): Node refuses
 * connections past `server.maxConnections` at accept, so it must sit below the fd limit with room for what
 * else culm opens (HAProxy's pipes and socket, Marathon and ZooKeeper connections, files), and the sockets
 * that merely wait must sit below that, so a client that completes its request always gets in.
 */
import { readFileSync } from 'node:fs';
import type { GuardLimits } from './connection-guard.js';

/** The soft "Max open files" of this process (Linux), or a conservative 1024 elsewhere. */
export function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // not Linux: fall through
  }
  return 1024;
}

export interface ConnectionLimits extends GuardLimits {
  maxConnections: number;
}

// Kept for culm's own files and clients whatever the limit.
const RESERVED_FDS = 256;

export function connectionLimits(fdLimit: number): ConnectionLimits {
  const maxConnections = Math.max(64, fdLimit - RESERVED_FDS);
  // A quarter stays for requests that complete. One address may hold half of the rest: enough that a flood
  // from it is mostly held rather than closed (every close is a reconnect, and reconnects are what cost CPU and
  // fill the listen queue a probe waits in), while other addresses keep room of their own.
  const total = Math.max(32, Math.floor(maxConnections * 0.75));
  const perClient = Math.max(Math.min(1024, total), Math.floor(total / 2));
  return { maxConnections, total, perClient };
}
