import { Fifo } from "../fifo.js";
import type { Claim, ResultStore, Settlement } from "./transport.js";

/** A key's state: pending (claimed, with watchers) or settled (with its report). */
type Entry =
  | { readonly kind: "pending"; readonly watchers: string[]; readonly expiresAtMs: number }
  | { readonly kind: "settled"; readonly report: Uint8Array; readonly expiresAtMs: number };

const noWatchers: readonly string[] = [];
const missing: Promise<undefined> = Promise.resolve(undefined);
const unrecorded: Settlement = { recorded: false, watchers: noWatchers };
const claimed: Claim = { status: "claimed" };
const pending: Claim = { status: "pending" };

/**
 * In-process result store with expiry. Expiry is tracked in one FIFO per distinct TTL:
 * entries with the same TTL expire in the order they were made, so finding the expired
 * ones costs O(1) each instead of a heap operation.
 */
export class MemoryResultStore implements ResultStore {
  private readonly entries = new Map<string, Entry>();
  private readonly expiries = new Map<number, Fifo<{ key: string; expiresAtMs: number }>>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly defaultTtlMs: number) {}

  async claim(key: string, address: string, ttlMs: number): Promise<Claim> {
    const now = Date.now();
    const entry = this.live(key, now);
    if (entry?.kind === "settled") return { status: "settled", report: entry.report };
    if (entry?.kind === "pending") {
      if (address !== "" && !entry.watchers.includes(address)) entry.watchers.push(address);
      return pending;
    }
    this.put(key, (expiresAtMs) => ({ kind: "pending", watchers: [], expiresAtMs }), ttlMs, now);
    return claimed;
  }

  async settle(key: string, report: Uint8Array, ttlMs: number): Promise<Settlement> {
    const now = Date.now();
    const entry = this.live(key, now);
    if (entry?.kind === "settled") return unrecorded;
    // An own copy: the report may be a slice of a shared pool (see envelope-codec.ts), and
    // a record kept for minutes must not pin a whole pool block.
    const owned = new Uint8Array(report);
    this.put(key, (expiresAtMs) => ({ kind: "settled", report: owned, expiresAtMs }), ttlMs, now);
    return { recorded: true, watchers: entry?.watchers ?? noWatchers };
  }

  // Not `async`: a miss, the common case, returns one shared promise instead of a new one.
  lookup(key: string): Promise<Uint8Array | undefined> {
    const entry = this.live(key, Date.now());
    return entry?.kind === "settled" ? Promise.resolve(entry.report) : missing;
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
        // Only if the entry is still the one this expiry was made for.
        if (this.entries.get(next.key)?.expiresAtMs === next.expiresAtMs) this.entries.delete(next.key);
      }
      if (fifo.length === 0) this.expiries.delete(ttl);
    }
  }

  private live(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    return entry !== undefined && entry.expiresAtMs > now ? entry : undefined;
  }

  private put(key: string, make: (expiresAtMs: number) => Entry, ttlMs: number, now: number): void {
    const ttl = ttlMs > 0 ? ttlMs : this.defaultTtlMs;
    const expiresAtMs = now + ttl;
    this.entries.set(key, make(expiresAtMs));
    let fifo = this.expiries.get(ttl);
    if (fifo === undefined) {
      fifo = new Fifo();
      this.expiries.set(ttl, fifo);
    }
    fifo.push({ key, expiresAtMs });
    this.scheduleSweep();
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
