/**
 * The half of the certificate rule that needs the file system (core/tls.ts decides the rest): whether a
 * certificate path names something HAProxy can load — a regular, readable file (a FIFO or a device would make
 * `haproxy -c` block), or for the operator's `HAProxy.SslCerts` also a readable directory, which HAProxy loads
 * whole — and a stamp that changes when the file does (a renewed certificate must reload HAProxy). Checked at
 * start for the setting (a clear error naming the key) and at each render for every certificate path.
 */
import { accessSync, constants, readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { CertState } from '../core/tls.js';
import { errorMessage } from '../core/errors.js';

/** A PEM certificate chain with its key is a few KB; this leaves room for long chains. */
const MAX_CERT_BYTES = 1 << 20;

const stampOf = (st: Stats): string => `${st.size}:${st.mtimeMs}`;

/** Why `path` cannot be a certificate ('' when it can), and its stamp. `directory`: a directory is accepted. */
export function certState(path: string, directory: boolean): CertState {
  let st: Stats;
  try {
    st = statSync(path);
    accessSync(path, st.isDirectory() ? constants.R_OK | constants.X_OK : constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { problem: code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not readable' : errorMessage(err), stamp: '' };
  }
  // A label names the path: never a kernel or device file (`/proc/self/pagemap` is a "regular" file HAProxy reads
  // for ever, and a check that never ends blocks every apply), never an empty or an outsized one.
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    /* stat above succeeded: keep the path */
  }
  if (/^\/(?:proc|sys|dev)(?:\/|$)/.test(real)) return { problem: 'a kernel or device file, not a certificate', stamp: '' };
  if (st.isFile() && st.size === 0) return { problem: 'empty', stamp: '' };
  if (st.isFile() && st.size > MAX_CERT_BYTES) return { problem: `larger than ${MAX_CERT_BYTES / 2 ** 20} MiB: not a PEM certificate and key`, stamp: '' };
  if (st.isFile()) return { problem: '', stamp: stampOf(st), real };
  if (!st.isDirectory() || !directory) return { problem: directory ? 'not a regular file or a directory' : 'not a regular file', stamp: '' };
  // HAProxy loads every file of the directory: its stamp is theirs (a file rewritten in place keeps the directory's mtime).
  const parts = [stampOf(st)];
  try {
    for (const name of readdirSync(path).sort()) {
      const entry = statSync(join(path, name), { throwIfNoEntry: false });
      if (entry?.isFile()) parts.push(`${name}:${stampOf(entry)}`);
    }
  } catch (err) {
    return { problem: errorMessage(err), stamp: '' };
  }
  return { problem: '', stamp: parts.join(','), real };
}

/** The files HAProxy loads beside a certificate `<cert>` when they exist (its `ssl-load-extra-files` default). */
const SIDE_FILES = ['.key', '.ocsp', '.issuer', '.sctl'];

/**
 * A stamp of a certificate left out (refused, or stalled on) that also changes with the files beside it: fixing
 * `<cert>.key` or removing a FIFO `<cert>.ocsp` tries it again. Only read for certificates already left out.
 */
export function leftOutStamp(path: string): string {
  const parts = [certState(path, false).stamp];
  for (const ext of SIDE_FILES) {
    try {
      const st = statSync(`${path}${ext}`, { throwIfNoEntry: false });
      parts.push(st ? `${ext}:${st.isFile() ? stampOf(st) : st.mode}` : '');
    } catch (err) {
      parts.push(`${ext}:${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  return parts.join(',');
}
