/**
 * The half of the certificate rule that needs the file system (core/tls.ts decides the rest): whether a
 * certificate path names something HAProxy can load — a regular, readable file (a FIFO or a device would make
 * `haproxy -c` block), or for the operator's `HAProxy.SslCerts` also a readable directory, which HAProxy loads
 * whole — and a stamp that changes when the file does (a renewed certificate must reload HAProxy). The files
 * HAProxy loads beside a certificate (`<cert>.key`, `.ocsp`, `.issuer`, `.sctl`) get the same bounds: a FIFO
 * `.ocsp` would stall the load as a FIFO certificate would. Checked at start for the setting (a clear error
 * naming the key) and at each render for every certificate path.
 */
import { accessSync, constants, readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { CertState } from '../core/tls.js';
import { errorMessage } from '../core/errors.js';

/** A PEM certificate chain with its key is a few KB; this leaves room for long chains. */
const MAX_CERT_BYTES = 1 << 20;

const stampOf = (st: Stats): string => `${st.size}:${st.mtimeMs}`;

/** `path`'s stat and, when it cannot be read, why: '' and the stat when it can. */
function readable(path: string): { problem: string; st?: Stats } {
  try {
    const st = statSync(path);
    accessSync(path, st.isDirectory() ? constants.R_OK | constants.X_OK : constants.R_OK);
    return { problem: '', st };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { problem: code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not readable' : errorMessage(err) };
  }
}

/** `path` with its links resolved (the path itself when that fails: its stat succeeded). */
function resolved(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

// A label names the path: never a kernel or device file (`/proc/self/pagemap` is a "regular" file HAProxy reads
// for ever, and a check that never ends blocks every apply), never an outsized one.
const KERNEL_OR_DEVICE = /^\/(?:proc|sys|dev)(?:\/|$)/;
const tooLarge = `larger than ${MAX_CERT_BYTES / 2 ** 20} MiB`;

/** Why a regular file `st` at `real` is not one HAProxy may load ('' when it may). */
function boundsProblem(st: Stats, real: string): string {
  if (KERNEL_OR_DEVICE.test(real)) return 'a kernel or device file';
  return st.size > MAX_CERT_BYTES ? tooLarge : '';
}

/** The files HAProxy loads beside a certificate `<cert>` when they exist (its `ssl-load-extra-files` default). */
const SIDE_FILES = ['.key', '.ocsp', '.issuer', '.sctl'];

/**
 * The files beside the certificate `path` that HAProxy loads with it, bounded as the certificate is (a FIFO
 * `<cert>.ocsp` would stall its load, `/dev/zero` behind a link would never end): why one cannot be loaded
 * ('' when all can), and their stamps (a renewed `.ocsp` must reload HAProxy too). An empty one is HAProxy's
 * to judge (it accepts an empty `.issuer` and refuses an empty `.ocsp`, naming the file).
 */
function sideFiles(path: string): { problem: string; stamp: string } {
  const stamps: string[] = [];
  for (const ext of SIDE_FILES) {
    const side = `${path}${ext}`;
    let st: Stats | undefined;
    try {
      st = statSync(side, { throwIfNoEntry: false });
    } catch (err) {
      return { problem: `${side} beside it: ${errorMessage(err)}`, stamp: '' };
    }
    if (st === undefined) continue; // none (or a dangling link): HAProxy finds none either
    const beside = (why: string): { problem: string; stamp: string } => ({ problem: `${side} beside it (HAProxy loads it with the certificate): ${why}`, stamp: '' });
    if (!st.isFile()) return beside('not a regular file');
    const { problem } = readable(side);
    if (problem) return beside(problem);
    const bounds = boundsProblem(st, resolved(side));
    if (bounds) return beside(bounds);
    stamps.push(`${ext}:${stampOf(st)}`);
  }
  return { problem: '', stamp: stamps.join(',') };
}

const withSides = (stamp: string, sides: string): string => (sides ? `${stamp},${sides}` : stamp);

/**
 * Why `path` cannot be a certificate ('' when it can), and its stamp (with those of the files HAProxy loads
 * beside it). `directory`: a directory is accepted, and each certificate in it judged as a file is.
 */
export function certState(path: string, directory: boolean): CertState {
  const { problem, st } = readable(path);
  if (!st) return { problem, stamp: '' };
  const real = resolved(path);
  if (KERNEL_OR_DEVICE.test(real)) return { problem: 'a kernel or device file, not a certificate', stamp: '' };
  if (st.isFile() && st.size === 0) return { problem: 'empty', stamp: '' };
  if (st.isFile() && st.size > MAX_CERT_BYTES) return { problem: `${tooLarge}: not a PEM certificate and key`, stamp: '' };
  if (st.isFile()) {
    const sides = sideFiles(path);
    return sides.problem ? { problem: sides.problem, stamp: '' } : { problem: '', stamp: withSides(stampOf(st), sides.stamp), real };
  }
  if (!st.isDirectory() || !directory) return { problem: directory ? 'not a regular file or a directory' : 'not a regular file', stamp: '' };
  // HAProxy loads every regular file of the directory but those named as side files (which it loads with
  // their certificate): its stamp is theirs (a file rewritten in place keeps the directory's mtime).
  const parts = [stampOf(st)];
  try {
    for (const name of readdirSync(path).sort()) {
      if (SIDE_FILES.some((ext) => name.endsWith(ext))) continue;
      const file = join(path, name);
      const entry = statSync(file, { throwIfNoEntry: false });
      if (!entry?.isFile()) continue; // HAProxy skips what is not a regular file
      const bounds = readable(file).problem || boundsProblem(entry, resolved(file));
      const sides = bounds ? { problem: '', stamp: '' } : sideFiles(file);
      if (bounds || sides.problem) return { problem: `${name} in it: ${bounds || sides.problem}`, stamp: '' };
      parts.push(`${name}:${withSides(stampOf(entry), sides.stamp)}`);
    }
  } catch (err) {
    return { problem: errorMessage(err), stamp: '' };
  }
  return { problem: '', stamp: parts.join(','), real };
}

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
