import { Fifo } from "../fifo.js";
import type { Claim, ResultStore, Settlement } from "./transport.js";

/** A key's state: pending (claimed, with watchers) while `report` is undefined, settled after. */
interface Entry {
  readonly key: string;
  readonly report: Uint8Array | undefined;
  readonly watchers: string[] | undefined;
  readonly expiresAtMs: number;
}

const noWatchers: readonly string[] = [];
const missing: Promise<undefined> = Promise.resolve(undefined);
const unrecorded: Settlement = { recorded: false, watchers: noWatchers };
const claimed: Claim = { status: "claimed" };
const pending: Claim = { status: "pending" };

/** Size of the blocks reports are copied into. */
const slabSize = 64 * 1024;
/** Reports larger than this get an array of their own rather than a place in a block. */
const largestInSlab = 4 * 1024;

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
 * Expiry is tracked in one FIFO per distinct TTL: records with the same TTL expire in the
 * order they were made, so finding the expired ones costs O(1) each instead of a heap
 * operation. Reports are copied into 64 KiB blocks in the order they are recorded: the
 * report handed in may be a view of a shared encoding block that must not be pinned for
 * minutes, and an array of its own per report costs more than the copy. Records of one
 * block expire together, so blocks are freed whole.
 */
export class MemoryResultStore implements ResultStore {
  private readonly entries = new Map<string, Entry>();
  private readonly expiries = new Map<number, Fifo<Entry>>();
  private sweeper: NodeJS.Timeout | undefined;
  private slab = new Uint8Array(slabSize);
  private slabUsed = 0;

  constructor(private readonly options: MemoryResultStoreOptions) {}

  async claim(key: string, address: string, ttlMs: number): Promise<Claim> {
    const now = Date.now();
    const entry = this.live(key, now);
    if (entry?.report !== undefined) return { status: "settled", report: entry.report };
    if (entry !== undefined) {
      const watchers = entry.watchers as string[];
      if (address !== "" && !watchers.includes(address)) watchers.push(address);
      return pending;
    }
    this.put(key, undefined, [], Math.max(ttlMs, this.options.defaultTtlMs), now);
    return claimed;
  }

  // Not `async`: the store is synchronous, and this runs once per task.
  settle(key: string, report: Uint8Array, ttlMs: number): Promise<Settlement> {
    const now = Date.now();
    const entry = this.live(key, now);
    if (entry?.report !== undefined) return Promise.resolve(unrecorded);
    this.put(key, this.keep(report), undefined, ttlMs > 0 ? ttlMs : this.options.defaultTtlMs, now);
    return Promise.resolve({ recorded: true, watchers: entry?.watchers ?? noWatchers });
  }

  // Not `async`: a miss, the common case, returns one shared promise instead of a new one.
  lookup(key: string): Promise<Uint8Array | undefined> {
    const report = this.live(key, Date.now())?.report;
    return report === undefined ? missing : Promise.resolve(report);
  }

  /** Number of keys held, expired ones not yet swept included. */
  get size(): number {
    return this.entries.size;
  }

  /** Forgets everything and stops the sweeper. */
  close(): void {
    clearTimeout(this.sweeper);
    this.sweeper = undefined;
    this.entries.clear();
    this.expiries.clear();
  }

  /** Removes expired entries now. */
  sweep(): void {
    const now = Date.now();
    for (const [ttl, fifo] of this.expiries) {
      for (let next = fifo.peek(); next !== undefined && next.expiresAtMs <= now; next = fifo.peek()) {
        fifo.shift();
        this.forget(next);
      }
      if (fifo.length === 0) this.expiries.delete(ttl);
    }
  }

  private live(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    return entry !== undefined && entry.expiresAtMs > now ? entry : undefined;
  }

  private put(
    key: string,
    report: Uint8Array | undefined,
    watchers: string[] | undefined,
    ttl: number,
    now: number,
  ): void {
    const entry: Entry = { key, report, watchers, expiresAtMs: now + ttl };
    this.entries.set(key, entry);
    let fifo = this.expiries.get(ttl);
    if (fifo === undefined) {
      fifo = new Fifo();
      this.expiries.set(ttl, fifo);
    }
    fifo.push(entry);
    if (this.entries.size > this.options.maxEntries) this.evictOne();
    this.scheduleSweep();
  }

  /** Drops the record closest to expiry, to stay within the size bound. */
  private evictOne(): void {
    let soonest: Fifo<Entry> | undefined;
    for (const fifo of this.expiries.values()) {
      const head = fifo.peek();
      if (head !== undefined && (soonest === undefined || head.expiresAtMs < (soonest.peek() as Entry).expiresAtMs)) {
        soonest = fifo;
      }
    }
    const victim = soonest?.shift();
    if (victim !== undefined) this.forget(victim);
  }

  /** Removes an entry from the map, if it is still the one there (a key may be re-put). */
  private forget(entry: Entry): void {
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
  }

  /** An own copy of a report, in the current block (see the class comment). */
  private keep(report: Uint8Array): Uint8Array {
    const length = report.length;
    if (length > largestInSlab) return new Uint8Array(report);
    if (this.slabUsed + length > slabSize) {
      this.slab = new Uint8Array(slabSize);
      this.slabUsed = 0;
    }
    const start = this.slabUsed;
    this.slab.set(report, start);
    this.slabUsed = start + length;
    return this.slab.subarray(start, start + length);
  }

  private scheduleSweep(): void {
    if (this.sweeper !== undefined) return;
    this.sweeper = setTimeout(() => {
      this.sweeper = undefined;
      this.sweep();
      if (this.entries.size > 0) this.scheduleSweep();
    }, 1000);
    // Sweeping is housekeeping: it must not keep a finished process alive.
    this.sweeper.unref();
  }
}
