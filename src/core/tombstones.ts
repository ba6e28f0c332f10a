/**
 * The tombstones (terminal task id → when it was seen) as a persistent map: `with` returns a new map that
 * shares all but one path with the old one (a hash array mapped trie, 32-way), so the reducer stays pure without
 * copying every tombstone on every terminal event (60,000 of them made each event cost a 60,000-entry copy).
 * Reads as a ReadonlyMap, so callers and tests see no difference.
 */

interface Leaf { key: string; value: number }
interface Branch { bitmap: number; slots: Slot[] }
/** Keys whose 32-bit hashes are equal: kept in a list below the last level. */
interface Bucket { hash: number; leaves: Leaf[] }
type Slot = Leaf | Branch | Bucket;

const BITS = 5;
const MASK = (1 << BITS) - 1;

const isLeaf = (s: Slot): s is Leaf => 'key' in s;
const isBucket = (s: Slot): s is Bucket => 'leaves' in s;

/** FNV-1a, 32 bits. */
function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

const EMPTY: Branch = { bitmap: 0, slots: [] };

function lookup(node: Branch, key: string, hash: number): number | undefined {
  let branch = node;
  for (let shift = 0; ; shift += BITS) {
    const bit = 1 << ((hash >>> shift) & MASK);
    if ((branch.bitmap & bit) === 0) return undefined;
    const slot = branch.slots[popcount(branch.bitmap & (bit - 1))];
    if (isLeaf(slot)) return slot.key === key ? slot.value : undefined;
    if (isBucket(slot)) return slot.leaves.find((l) => l.key === key)?.value;
    branch = slot;
  }
}

/** Two leaves that share a slot at `shift`: a branch (or a bucket once the hash bits are used up). */
function split(a: Leaf, ha: number, b: Leaf, hb: number, shift: number): Slot {
  if (shift >= 32) return { hash: ha, leaves: [a, b] };
  const ia = (ha >>> shift) & MASK;
  const ib = (hb >>> shift) & MASK;
  if (ia === ib) return { bitmap: 1 << ia, slots: [split(a, ha, b, hb, shift + BITS)] };
  return { bitmap: (1 << ia) | (1 << ib), slots: ia < ib ? [a, b] : [b, a] };
}

/** `node` with key set; `added` tells whether the key is new. Returns `node` itself when nothing changes. */
function insert(node: Branch, leaf: Leaf, hash: number, shift: number, added: { yes: boolean }): Branch {
  const bit = 1 << ((hash >>> shift) & MASK);
  const index = popcount(node.bitmap & (bit - 1));
  if ((node.bitmap & bit) === 0) {
    added.yes = true;
    const slots = node.slots.slice();
    slots.splice(index, 0, leaf);
    return { bitmap: node.bitmap | bit, slots };
  }
  const slot = node.slots[index];
  let next: Slot;
  if (isLeaf(slot)) {
    if (slot.key === leaf.key) {
      if (slot.value === leaf.value) return node;
      next = leaf;
    } else {
      added.yes = true;
      next = split(slot, hashOf(slot.key), leaf, hash, shift + BITS);
    }
  } else if (isBucket(slot)) {
    const at = slot.leaves.findIndex((l) => l.key === leaf.key);
    if (at >= 0 && slot.leaves[at].value === leaf.value) return node;
    const leaves = slot.leaves.slice();
    if (at >= 0) leaves[at] = leaf;
    else {
      added.yes = true;
      leaves.push(leaf);
    }
    next = { hash: slot.hash, leaves };
  } else {
    next = insert(slot, leaf, hash, shift + BITS, added);
    if (next === slot) return node;
  }
  const slots = node.slots.slice();
  slots[index] = next;
  return { bitmap: node.bitmap, slots };
}

function* walk(node: Slot): Generator<[string, number]> {
  if (isLeaf(node)) yield [node.key, node.value];
  else if (isBucket(node)) for (const l of node.leaves) yield [l.key, l.value];
  else for (const s of node.slots) yield* walk(s);
}

export class Tombstones implements ReadonlyMap<string, number> {
  static readonly empty = new Tombstones(EMPTY, 0);

  private constructor(private readonly root: Branch, readonly size: number) {}

  static from(entries: Iterable<readonly [string, number]>): Tombstones {
    let t = Tombstones.empty;
    for (const [k, v] of entries) t = t.with(k, v);
    return t;
  }

  /** Tombstones as they are, or converted once (tests and old snapshots may hand in a plain Map). */
  static of(map: ReadonlyMap<string, number>): Tombstones {
    return map instanceof Tombstones ? map : Tombstones.from(map);
  }

  /** A map with `key` set to `value`; this very map when it already holds that. */
  with(key: string, value: number): Tombstones {
    const added = { yes: false };
    const root = insert(this.root, { key, value }, hashOf(key), 0, added);
    return root === this.root ? this : new Tombstones(root, this.size + (added.yes ? 1 : 0));
  }

  get(key: string): number | undefined {
    return lookup(this.root, key, hashOf(key));
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  entries(): MapIterator<[string, number]> {
    return walk(this.root) as MapIterator<[string, number]>;
  }

  [Symbol.iterator](): MapIterator<[string, number]> {
    return this.entries();
  }

  *keys(): MapIterator<string> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): MapIterator<number> {
    for (const [, v] of this.entries()) yield v;
  }

  forEach(fn: (value: number, key: string, map: ReadonlyMap<string, number>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }
}
