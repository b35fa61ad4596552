/**
 * A hash table from string keys to slots (small integers that index the caller's own
 * columns), made to hold 100,000s of keys cheaply.
 *
 * A `Map` of that size costs several cache misses per operation: its buckets chain to
 * entries scattered in memory, and each candidate key is a string elsewhere. Here the
 * table is one `Int32Array` of (hash, slot + 1) pairs, with open addressing and linear
 * probing at a load of at most one half, so a miss usually reads one cache line and a key
 * is compared only when its full hash matches. Removal shifts the following entries back
 * rather than leaving tombstones, so the table never needs cleaning. Each slot's hash is
 * kept too, so removing a slot hashes nothing.
 *
 * The hash is seeded per table, so keys chosen by users do not collide the same way in
 * every process.
 */
export class KeyTable {
  /** (hash, slot + 1) pairs; slot + 1 is 0 in an empty position. */
  private table = new Int32Array(2 * 16);
  private mask = 15;
  private count = 0;
  /** Key of each slot held, undefined for a free slot. */
  private keys: (string | undefined)[] = [];
  private hashes = new Int32Array(16);
  private readonly seed = (Math.random() * 0x1_0000_0000) | 0;
  /** The last key hashed and its hash: `set` after a missed `get` of the same key reuses it. */
  private lastKey = "";
  private lastHash = this.hash("");

  /** Number of keys held. */
  get size(): number {
    return this.count;
  }

  /** The slot of `key`, or -1. */
  get(key: string): number {
    const hash = this.hashOf(key);
    const table = this.table;
    for (let position = hash & this.mask; ; position = (position + 1) & this.mask) {
      const entry = table[2 * position + 1] as number;
      if (entry === 0) return -1;
      if (table[2 * position] === hash && this.keys[entry - 1] === key) return entry - 1;
    }
  }

  /** Maps a key not held to a slot not used. */
  set(key: string, slot: number): void {
    if (2 * (this.count + 1) > this.mask + 1) this.resize(2 * (this.mask + 1));
    if (slot >= this.hashes.length) this.growSlots(slot);
    const hash = this.hashOf(key);
    this.keys[slot] = key;
    this.hashes[slot] = hash;
    this.place(hash, slot);
    this.count++;
  }

  /** Removes the key of a slot held. */
  delete(slot: number): void {
    const table = this.table;
    const mask = this.mask;
    let hole = (this.hashes[slot] as number) & mask;
    while (table[2 * hole + 1] !== slot + 1) hole = (hole + 1) & mask;
    // Shift back each following entry of the run that may sit at the hole, so that every
    // entry stays reachable from its home position without crossing an empty one.
    for (let position = (hole + 1) & mask; table[2 * position + 1] !== 0; position = (position + 1) & mask) {
      const home = (table[2 * position] as number) & mask;
      if (((position - home) & mask) >= ((position - hole) & mask)) {
        table[2 * hole] = table[2 * position] as number;
        table[2 * hole + 1] = table[2 * position + 1] as number;
        hole = position;
      }
    }
    table[2 * hole] = 0;
    table[2 * hole + 1] = 0;
    this.keys[slot] = undefined;
    this.count--;
  }

  /** Removes every key. */
  clear(): void {
    this.table = new Int32Array(2 * 16);
    this.mask = 15;
    this.count = 0;
    this.keys = [];
    this.lastKey = "";
    this.lastHash = this.hash("");
  }

  private hashOf(key: string): number {
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.lastHash = this.hash(key);
    }
    return this.lastHash;
  }

  /** FNV-1a over the UTF-16 code units, then murmur3's finalizer so the low bits (the home position) depend on all. */
  private hash(key: string): number {
    let hash = this.seed ^ key.length;
    for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
    hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
    hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
    return hash ^ (hash >>> 16);
  }

  /** Puts a (hash, slot) pair in the first empty position from its home. */
  private place(hash: number, slot: number): void {
    const table = this.table;
    let position = hash & this.mask;
    while (table[2 * position + 1] !== 0) position = (position + 1) & this.mask;
    table[2 * position] = hash;
    table[2 * position + 1] = slot + 1;
  }

  private resize(positions: number): void {
    const old = this.table;
    this.table = new Int32Array(2 * positions);
    this.mask = positions - 1;
    for (let position = 0; 2 * position < old.length; position++) {
      const entry = old[2 * position + 1] as number;
      if (entry !== 0) this.place(old[2 * position] as number, entry - 1);
    }
  }

  private growSlots(slot: number): void {
    const hashes = new Int32Array(Math.max(2 * this.hashes.length, slot + 1));
    hashes.set(this.hashes);
    this.hashes = hashes;
  }
}
