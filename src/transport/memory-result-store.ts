import { KeyTable } from "./key-table.js";
import type { Claim, ResultStore, Settlement } from "./transport.js";

const noWatchers: readonly string[] = [];
const missing: Promise<undefined> = Promise.resolve(undefined);
const unrecorded: Settlement = { recorded: false, watchers: noWatchers };
const claimed: Claim = { status: "claimed" };
const pending: Claim = { status: "pending" };

/** Size of the blocks reports are copied into. */
const slabSize = 64 * 1024;
/** Reports larger than this get an array of their own rather than a place in a block. */
const largestInSlab = 4 * 1024;
/** Slots the record columns start with; they double as needed, up to `maxEntries`. */
const initialSlots = 1024;

/** Options of the memory result store. */
export interface MemoryResultStoreOptions {
  /** Retention when a record does not say, ms. */
  readonly defaultTtlMs: number;
  /** Most records held; beyond it the ones closest to expiry go first. */
  readonly maxEntries: number;
}

/**
 * In-process result store with expiry and a size bound.
 *
 * Built to hold many records cheaply, since it may keep 100,000s of them for minutes: a
 * record is a slot number, its fields live in parallel arrays indexed by slot (expiry,
 * where its report bytes are, watchers of a pending claim), and a {@link KeyTable} maps
 * keys to slots. So a record costs no heap object of its own beyond its key, and a round
 * trip (a lookup miss, then a settle) costs the table two misses, an insertion and, at the
 * bound, one removal, which needs no hashing. Freed slots are reused.
 *
 * Expiry is tracked in one FIFO of (slot, expiry) per distinct TTL: records with the same
 * TTL expire in the order they were made, so finding the expired ones, or the one closest
 * to expiry, costs O(1) each instead of a heap operation. A FIFO item is current while its
 * slot still expires when the item says; otherwise the slot was freed or its record
 * re-made since (a claim settled, an expired record replaced), and the item is skipped
 * without a map lookup.
 *
 * Reports are copied into 64 KiB blocks in the order they are recorded: the report handed
 * in may be a view of a shared encoding block that must not be pinned for minutes, and an
 * array of its own per report costs more than the copy. A slot holds its block and the
 * report's offset and length, and the view handed out is made only when asked for.
 * Records of one block expire together, so blocks are freed whole.
 */
export class MemoryResultStore implements ResultStore {
  /** Slot of each key held. */
  private readonly index = new KeyTable();
  /** FIFO of (slot, expiry) per TTL, ms. */
  private readonly expiries = new Map<number, ExpiryQueue>();

  // Record columns, indexed by slot.
  /** NaN for a free slot, so no FIFO item matches it. */
  private expiresAtMs = new Float64Array(0);
  /** The report's block (a shared slab, or its own array); undefined while pending. */
  private blocks: (Uint8Array | undefined)[] = [];
  private starts = new Int32Array(0);
  private lengths = new Int32Array(0);
  /** Addresses attached to a pending claim; undefined if none. */
  private watchers: (string[] | undefined)[] = [];

  /** Slots ever used; slots below it are held or in `freeSlots`. */
  private slotCount = 0;
  private freeSlots: number[] = [];

  private slab = new Uint8Array(slabSize);
  private slabUsed = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly options: MemoryResultStoreOptions) {}

  async claim(key: string, address: string, ttlMs: number): Promise<Claim> {
    const now = Date.now();
    const slot = this.index.get(key);
    if (slot >= 0 && this.isLive(slot, now)) {
      const report = this.report(slot);
      if (report !== undefined) return { status: "settled", report };
      if (address !== "") this.watch(slot, address);
      return pending;
    }
    this.place(key, slot, Math.max(ttlMs, this.options.defaultTtlMs), now);
    return claimed;
  }

  // Not `async`: the store is synchronous, and this runs once per task.
  settle(key: string, report: Uint8Array, ttlMs: number): Promise<Settlement> {
    const now = Date.now();
    const existing = this.index.get(key);
    let watchers = noWatchers;
    if (existing >= 0 && this.isLive(existing, now)) {
      if (this.blocks[existing] !== undefined) return Promise.resolve(unrecorded);
      watchers = this.watchers[existing] ?? noWatchers;
    }
    const slot = this.place(key, existing, ttlMs > 0 ? ttlMs : this.options.defaultTtlMs, now);
    this.keep(slot, report);
    return Promise.resolve({ recorded: true, watchers });
  }

  // Not `async`: a miss, the common case, returns one shared promise instead of a new one.
  lookup(key: string): Promise<Uint8Array | undefined> {
    const slot = this.index.get(key);
    // A miss needs no clock.
    if (slot < 0 || !this.isLive(slot, Date.now())) return missing;
    const report = this.report(slot);
    return report === undefined ? missing : Promise.resolve(report);
  }

  async forget(key: string, report: Uint8Array): Promise<boolean> {
    const slot = this.index.get(key);
    if (slot < 0 || !this.isLive(slot, Date.now())) return false;
    const recorded = this.report(slot);
    if (recorded === undefined || !sameBytes(recorded, report)) return false;
    this.free(slot);
    return true;
  }

  /** Number of keys held, expired ones not yet swept included. */
  get size(): number {
    return this.index.size;
  }

  /** Forgets everything and stops the sweeper. */
  close(): void {
    clearTimeout(this.sweeper);
    this.sweeper = undefined;
    this.index.clear();
    this.expiries.clear();
    this.blocks = [];
    this.watchers = [];
    this.expiresAtMs.fill(Number.NaN);
    this.slotCount = 0;
    this.freeSlots = [];
  }

  /** Removes expired records now. */
  sweep(): void {
    const now = Date.now();
    for (const [ttl, queue] of this.expiries) {
      while (queue.headExpiresAtMs <= now) this.dropHead(queue);
      if (queue.length === 0) this.expiries.delete(ttl);
    }
  }

  private isLive(slot: number, now: number): boolean {
    return (this.expiresAtMs[slot] as number) > now;
  }

  /** The report recorded in a slot, or undefined while the claim is pending. */
  private report(slot: number): Uint8Array | undefined {
    const block = this.blocks[slot];
    if (block === undefined) return undefined;
    const start = this.starts[slot] as number;
    const length = this.lengths[slot] as number;
    return start === 0 && length === block.length ? block : block.subarray(start, start + length);
  }

  private watch(slot: number, address: string): void {
    const watchers = this.watchers[slot];
    if (watchers === undefined) this.watchers[slot] = [address];
    else if (!watchers.includes(address)) watchers.push(address);
  }

  /**
   * Makes `key`'s record expire `ttl` ms from `now`, pending (with no report and no
   * watchers): in `existing`, the slot it has (pending, or expired and not yet swept), or
   * if -1 in a new slot. Returns the slot.
   */
  private place(key: string, existing: number, ttl: number, now: number): number {
    const slot = existing >= 0 ? existing : this.allocate(key);
    const expiresAtMs = now + ttl;
    this.expiresAtMs[slot] = expiresAtMs;
    this.blocks[slot] = undefined;
    this.watchers[slot] = undefined;
    let queue = this.expiries.get(ttl);
    if (queue === undefined) {
      queue = new ExpiryQueue();
      this.expiries.set(ttl, queue);
    }
    // Any earlier item of the slot no longer matches its expiry: it is skipped when reached.
    queue.push(slot, expiresAtMs);
    this.scheduleSweep();
    return slot;
  }

  /** A slot for a key not held, making room first if the store is full. */
  private allocate(key: string): number {
    if (this.index.size >= this.options.maxEntries) this.evictOne();
    const slot = this.freeSlots.pop() ?? this.newSlot();
    this.index.set(key, slot);
    return slot;
  }

  private newSlot(): number {
    const slot = this.slotCount++;
    if (slot === this.expiresAtMs.length) this.growColumns();
    return slot;
  }

  /** Doubles the typed-array columns (the others grow by themselves). */
  private growColumns(): void {
    const capacity = Math.max(initialSlots, this.expiresAtMs.length * 2);
    const expiresAtMs = new Float64Array(capacity).fill(Number.NaN);
    expiresAtMs.set(this.expiresAtMs);
    this.expiresAtMs = expiresAtMs;
    const starts = new Int32Array(capacity);
    starts.set(this.starts);
    this.starts = starts;
    const lengths = new Int32Array(capacity);
    lengths.set(this.lengths);
    this.lengths = lengths;
  }

  /** Frees a held slot, dropping its record. */
  private free(slot: number): void {
    this.index.delete(slot);
    this.expiresAtMs[slot] = Number.NaN;
    // Let the report's block, or its own array, be collected.
    this.blocks[slot] = undefined;
    this.watchers[slot] = undefined;
    this.freeSlots.push(slot);
  }

  /** Drops the record closest to expiry, to stay within the size bound. */
  private evictOne(): void {
    for (let queue = this.soonestQueue(); queue !== undefined; queue = this.soonestQueue()) {
      if (this.dropHead(queue)) return;
    }
  }

  /** The FIFO whose oldest item expires first; undefined if all are empty. */
  private soonestQueue(): ExpiryQueue | undefined {
    let soonest: ExpiryQueue | undefined;
    let soonestMs = Number.POSITIVE_INFINITY;
    for (const queue of this.expiries.values()) {
      const expiresAtMs = queue.headExpiresAtMs;
      if (expiresAtMs < soonestMs) {
        soonest = queue;
        soonestMs = expiresAtMs;
      }
    }
    return soonest;
  }

  /** Removes the oldest item of a FIFO, and its record if the item is current. Returns whether a record went. */
  private dropHead(queue: ExpiryQueue): boolean {
    const slot = queue.headSlot;
    const current = this.expiresAtMs[slot] === queue.headExpiresAtMs;
    queue.shift();
    if (current) this.free(slot);
    return current;
  }

  /** Records an own copy of a report in a slot, in the current block (see the class comment). */
  private keep(slot: number, report: Uint8Array): void {
    const length = report.length;
    this.lengths[slot] = length;
    if (length > largestInSlab) {
      this.blocks[slot] = new Uint8Array(report);
      this.starts[slot] = 0;
      return;
    }
    if (this.slabUsed + length > slabSize) {
      this.slab = new Uint8Array(slabSize);
      this.slabUsed = 0;
    }
    const start = this.slabUsed;
    this.slab.set(report, start);
    this.slabUsed = start + length;
    this.blocks[slot] = this.slab;
    this.starts[slot] = start;
  }

  private scheduleSweep(): void {
    if (this.sweeper !== undefined) return;
    this.sweeper = setTimeout(() => {
      this.sweeper = undefined;
      this.sweep();
      if (this.index.size > 0) this.scheduleSweep();
    }, 1000);
    // Sweeping is housekeeping: it must not keep a finished process alive.
    this.sweeper.unref();
  }
}

/**
 * A first-in first-out queue of (slot, expiry) pairs, kept in two typed-array rings so
 * that holding many of them costs no object per item and nothing for the garbage
 * collector to trace. The rings double when full.
 */
class ExpiryQueue {
  private slots: Int32Array;
  private expiries: Float64Array;
  /** Index of the oldest item. */
  private head = 0;
  private count = 0;

  constructor(initialCapacity = 64) {
    this.slots = new Int32Array(initialCapacity);
    this.expiries = new Float64Array(initialCapacity);
  }

  get length(): number {
    return this.count;
  }

  /** Expiry of the oldest item, ms; Infinity if empty. */
  get headExpiresAtMs(): number {
    return this.count > 0 ? (this.expiries[this.head] as number) : Number.POSITIVE_INFINITY;
  }

  /** Slot of the oldest item; -1 if empty. */
  get headSlot(): number {
    return this.count > 0 ? (this.slots[this.head] as number) : -1;
  }

  push(slot: number, expiresAtMs: number): void {
    if (this.count === this.slots.length) this.grow();
    const tail = (this.head + this.count) % this.slots.length;
    this.slots[tail] = slot;
    this.expiries[tail] = expiresAtMs;
    this.count++;
  }

  /** Drops the oldest item (read it first with `headSlot` and `headExpiresAtMs`). */
  shift(): void {
    if (this.count === 0) return;
    this.head = (this.head + 1) % this.slots.length;
    this.count--;
  }

  /** Doubles the rings, unwrapping them so the oldest item is first. */
  private grow(): void {
    const capacity = this.slots.length;
    const slots = new Int32Array(capacity * 2);
    const expiries = new Float64Array(capacity * 2);
    const firstPart = capacity - this.head;
    slots.set(this.slots.subarray(this.head));
    slots.set(this.slots.subarray(0, this.head), firstPart);
    expiries.set(this.expiries.subarray(this.head));
    expiries.set(this.expiries.subarray(0, this.head), firstPart);
    this.slots = slots;
    this.expiries = expiries;
    this.head = 0;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
