import { Fifo } from "../fifo.js";
import type { ResultStore } from "./transport.js";

interface Recorded {
  readonly report: Uint8Array;
  readonly expiresAtMs: number;
}

/**
 * In-process result store with expiry. Expiry is tracked in one FIFO per distinct TTL:
 * records with the same TTL expire in the order they were made, so finding the expired
 * ones costs O(1) each instead of a heap operation.
 */
export class MemoryResultStore implements ResultStore {
  private readonly records = new Map<string, Recorded>();
  private readonly expiries = new Map<number, Fifo<{ key: string; expiresAtMs: number }>>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly defaultTtlMs: number) {}

  async settle(key: string, report: Uint8Array, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const existing = this.records.get(key);
    if (existing !== undefined && existing.expiresAtMs > now) return false;
    const ttl = ttlMs > 0 ? ttlMs : this.defaultTtlMs;
    const expiresAtMs = now + ttl;
    this.records.set(key, { report, expiresAtMs });
    let fifo = this.expiries.get(ttl);
    if (fifo === undefined) {
      fifo = new Fifo();
      this.expiries.set(ttl, fifo);
    }
    fifo.push({ key, expiresAtMs });
    this.scheduleSweep();
    return true;
  }

  async lookup(key: string): Promise<Uint8Array | undefined> {
    const record = this.records.get(key);
    if (record === undefined || record.expiresAtMs <= Date.now()) return undefined;
    return record.report;
  }

  /** Number of records held, expired ones not yet swept included. */
  get size(): number {
    return this.records.size;
  }

  /** Forgets every record and stops the sweeper. */
  close(): void {
    clearTimeout(this.sweeper);
    this.sweeper = undefined;
    this.records.clear();
    this.expiries.clear();
  }

  /** Removes expired records now. */
  sweep(): void {
    const now = Date.now();
    for (const [ttl, fifo] of this.expiries) {
      for (let next = fifo.peek(); next !== undefined && next.expiresAtMs <= now; next = fifo.peek()) {
        fifo.shift();
        // Only if the record is still the one this expiry was made for.
        if (this.records.get(next.key)?.expiresAtMs === next.expiresAtMs) this.records.delete(next.key);
      }
      if (fifo.length === 0) this.expiries.delete(ttl);
    }
  }

  private scheduleSweep(): void {
    if (this.sweeper !== undefined) return;
    this.sweeper = setTimeout(() => {
      this.sweeper = undefined;
      this.sweep();
      if (this.records.size > 0) this.scheduleSweep();
    }, 1000);
    // Sweeping is housekeeping: it must not keep a finished process alive.
    this.sweeper.unref();
  }
}
