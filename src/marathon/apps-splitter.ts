/**
 * Reads Marathon's `{"apps": [ … ]}` answer as it arrives and hands over each element of the `apps` array as
 * soon as it is complete, parsed on its own. Why: at 10,000 apps the answer is ~50 MB of JSON; reading it
 * whole means holding the chunks, the joined buffer, the decoded string and the parsed tree at once (several
 * hundred MB), while one app at a time holds a few kB besides what the caller keeps of it.
 *
 * It is still a strict JSON reader: every element is parsed by JSON.parse, everything outside the array (the
 * envelope with the array emptied) is parsed by JSON.parse at the end, and the separators between elements
 * are checked, so an answer that JSON.parse would refuse is refused here too (AppsBodyError), and an answer
 * cut short is never taken for a complete one.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
/** Longest object key at the envelope's level that is remembered (the one that matters is "apps"). */
const KEY_CAP = 64;

/** The answer is not the JSON object with an `apps` array it should be. */
export class AppsBodyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AppsBodyError';
  }
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

export class AppsSplitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private started = false;
  private ended = false;
  /** Inside the `apps` array (depth ≥ 2). */
  private inApps = false;
  private appsSeen = false;
  /** The string being read at the envelope's level (a key, or a value), up to KEY_CAP + 1 characters. */
  private key: string | undefined;
  private lastString = '';
  /** The key whose value comes next at the envelope's level. */
  private currentKey = '';
  private element: Buffer[] = [];
  private elementBytes = 0;
  private skeleton: Buffer[] = [];
  private delivered = 0;
  private bytes = 0;

  /** `onElement` receives each element, parsed, in order; what it throws ends the read. */
  constructor(private readonly onElement: (value: unknown, index: number) => void) {}

  /** Elements handed over so far. */
  count(): number {
    return this.delivered;
  }

  /** Bytes read so far. */
  size(): number {
    return this.bytes;
  }

  push(chunk: Uint8Array): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const n = buf.length;
    this.bytes += n;
    let seg = 0;
    let i = 0;
    if (this.inString && this.escaped) {
      this.escaped = false;
      i = 1;
    }
    while (i < n) {
      if (this.inString) {
        if (this.key !== undefined) {
          i = this.skipString(buf, i);
          continue;
        }
        // The hot loop (nearly all bytes are inside strings): inline, no call.
        let c = buf[i];
        while (c !== QUOTE) {
          i += c === BACKSLASH ? 2 : 1;
          if (i >= n) break;
          c = buf[i];
        }
        if (i >= n) {
          this.escaped = i > n;
          break;
        }
        this.inString = false;
        i++;
        continue;
      }
      const c = buf[i];
      if (isSpace(c)) {
        i++;
        continue;
      }
      if (this.ended) throw new AppsBodyError(`unexpected data after the JSON object at byte ${this.bytes - n + i}`);
      if (!this.started) {
        if (c !== OPEN_BRACE) throw new AppsBodyError('expected a JSON object with an "apps" array');
        this.started = true;
        this.depth = 1;
        i++;
        continue;
      }
      switch (c) {
        case QUOTE:
          this.inString = true;
          if (this.depth === 1) this.key = '';
          break;
        case OPEN_BRACE:
        case OPEN_BRACKET:
          if (c === OPEN_BRACKET && this.depth === 1 && this.currentKey === 'apps') {
            if (this.appsSeen) throw new AppsBodyError('more than one "apps" key');
            this.appsSeen = true;
            this.inApps = true;
            this.skeleton.push(buf.subarray(seg, i + 1));
            seg = i + 1;
          }
          this.depth++;
          break;
        case CLOSE_BRACE:
        case CLOSE_BRACKET:
          if (this.inApps && this.depth === 2) {
            if (c !== CLOSE_BRACKET) throw new AppsBodyError('unbalanced brackets in the "apps" array');
            this.addPiece(buf.subarray(seg, i));
            this.endElement(true);
            this.inApps = false;
            seg = i;
          }
          this.depth--;
          if (this.depth === 0) this.ended = true;
          break;
        case COMMA:
          if (this.inApps && this.depth === 2) {
            this.addPiece(buf.subarray(seg, i));
            this.endElement(false);
            seg = i + 1;
          } else if (this.depth === 1) this.currentKey = '';
          break;
        case COLON:
          if (this.depth === 1) this.currentKey = this.lastString;
          break;
        default:
          break;
      }
      i++;
    }
    if (this.inApps) this.addPiece(buf.subarray(seg));
    else this.skeleton.push(buf.subarray(seg));
  }

  /**
   * Inside a string from `from` (not in the middle of an escape): returns the index after its closing quote,
   * or `buf.length` when the string goes on in the next chunk (`escaped` says whether it stopped after a
   * backslash).
   */
  private skipString(buf: Buffer, from: number): number {
    const n = buf.length;
    let i = from;
    while (i < n) {
      const c = buf[i];
      if (c === QUOTE) break;
      i += c === BACKSLASH ? 2 : 1;
    }
    const end = Math.min(i, n);
    if (this.key !== undefined && this.key.length <= KEY_CAP) this.key += buf.toString('latin1', from, Math.min(end, from + KEY_CAP + 1));
    if (i >= n) {
      this.escaped = i > n;
      return n;
    }
    this.inString = false;
    if (this.key !== undefined) {
      this.lastString = this.key.length <= KEY_CAP ? this.key : '';
      this.key = undefined;
    }
    return i + 1;
  }

  /**
   * The whole answer was read: checks it was complete and well-formed. Returns the envelope: the object
   * with its `apps` array empty (the elements went to `onElement`).
   */
  end(): Record<string, unknown> {
    if (!this.ended || this.inString) {
      throw new AppsBodyError(`the answer ends before its JSON object does (after ${this.bytes} bytes)`);
    }
    let envelope: unknown;
    try {
      envelope = JSON.parse(Buffer.concat(this.skeleton).toString('utf8'));
    } catch (cause) {
      throw new AppsBodyError(`unparsable JSON around the "apps" array (${this.bytes} bytes)`, { cause });
    }
    if (!this.appsSeen || !Array.isArray((envelope as { apps?: unknown }).apps)) {
      throw new AppsBodyError('expected a JSON object with an "apps" array');
    }
    return envelope as Record<string, unknown>;
  }

  private addPiece(piece: Buffer): void {
    if (piece.length === 0) return;
    this.element.push(piece);
    this.elementBytes += piece.length;
  }

  private endElement(last: boolean): void {
    const text = (this.element.length === 1 ? this.element[0] : Buffer.concat(this.element, this.elementBytes)).toString('utf8');
    this.element = [];
    this.elementBytes = 0;
    if (text.trim() === '') {
      // `[]` is an empty list; an empty slot anywhere else (`[,`, `,,`, `,]`) is not JSON.
      if (last && this.delivered === 0) return;
      throw new AppsBodyError(`empty element in the "apps" array after element ${this.delivered}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (cause) {
      throw new AppsBodyError(`element ${this.delivered} of the "apps" array is not valid JSON (${text.length} chars)`, { cause });
    }
    this.onElement(value, this.delivered++);
  }
}
