/**
 * The one constant-time comparison of a secret (API token, callback secret). Every Marathon callback is
 * compared with the subscription's secret, so it costs no hashing and no allocation: the given value is
 * copied into a zeroed scratch buffer of the secret's length and compared with timingSafeEqual, whose time
 * depends on the secret's length only (never on its content, nor on how much of it a guess gets right).
 */
import { timingSafeEqual } from 'node:crypto';

interface Prepared { bytes: Buffer; scratch: Buffer }
/** The secrets compared with (one or two in culm: the API token, the callback secret), made once each. */
const prepared = new Map<string, Prepared>();
const MAX_PREPARED = 8;

function prepare(secret: string): Prepared {
  let p = prepared.get(secret);
  if (p === undefined) {
    if (prepared.size >= MAX_PREPARED) prepared.clear();
    const bytes = Buffer.from(secret, 'utf8');
    p = { bytes, scratch: Buffer.alloc(bytes.length) };
    prepared.set(secret, p);
  }
  return p;
}

/** `a` is `b` (the secret), compared in constant time; a value of another length never matches. */
export function sameSecret(a: string, b: string): boolean {
  const { bytes, scratch } = prepare(b);
  const sameLength = Buffer.byteLength(a, 'utf8') === bytes.length;
  // At most the secret's length is written; the rest stays zero. Equal bytes and equal lengths: the same string.
  scratch.fill(0);
  scratch.write(a, 'utf8');
  const same = timingSafeEqual(scratch, bytes);
  scratch.fill(0);
  return same && sameLength;
}
