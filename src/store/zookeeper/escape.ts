/**
 * Go's url.QueryEscape / url.QueryUnescape, byte for byte: Bamboo names each rule's znode with
 * url.QueryEscape(appId), so a tree written by Bamboo and one written by culm must use the same names.
 */

const HEX = '0123456789ABCDEF';

/** Bytes Go leaves alone in a query component: ALPHA / DIGIT / "-" / "_" / "." / "~". */
function unreserved(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
    || b === 0x2d || b === 0x5f || b === 0x2e || b === 0x7e;
}

/** url.QueryEscape: UTF-8 bytes, unreserved kept, space as '+', everything else %XX in upper case. */
export function goQueryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    if (unreserved(b)) out += String.fromCharCode(b);
    else if (b === 0x20) out += '+';
    else out += `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

export class QueryEscapeError extends Error {
  constructor(readonly fragment: string) {
    super(`invalid URL escape ${JSON.stringify(fragment)}`); // Go's url.EscapeError text
    this.name = 'QueryEscapeError';
  }
}

/**
 * url.QueryUnescape: '+' is a space, %XX (either case) a byte, anything else is kept. A '%' without two
 * hex digits after it is an error, as in Go. Go strings may hold any bytes; culm's ids are text, so bytes
 * that are not UTF-8 are an error here too.
 */
export function goQueryUnescape(s: string): string {
  const input = Buffer.from(s, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < input.length; i++) {
    const b = input[i];
    if (b === 0x25) {
      const hi = i + 2 < input.length ? hexValue(input[i + 1]) : -1;
      const lo = i + 2 < input.length ? hexValue(input[i + 2]) : -1;
      if (hi < 0 || lo < 0) throw new QueryEscapeError(input.subarray(i, i + 3).toString('utf8'));
      out.push(hi * 16 + lo);
      i += 2;
    } else if (b === 0x2b) {
      out.push(0x20);
    } else {
      out.push(b);
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(out));
  } catch {
    throw new QueryEscapeError(s);
  }
}
