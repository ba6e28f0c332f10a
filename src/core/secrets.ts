/** The one constant-time comparison of a secret (API token, callback secret). */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
/** The configured secret's digest, made once: every Marathon callback is compared with it (~3% of a callback's CPU). */
let known: { secret: string; digest: Buffer } | undefined;

/** Equal-length digests, so timingSafeEqual never throws and the secret's length does not leak. `b` is the secret. */
export function sameSecret(a: string, b: string): boolean {
  if (known?.secret !== b) known = { secret: b, digest: digest(b) };
  return timingSafeEqual(digest(a), known.digest);
}
