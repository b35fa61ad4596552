import type { Redis } from "ioredis";
import { asBuffer, asBytes, asText } from "./redis-bytes.js";
import { runScript } from "./redis-scripts.js";
import { batchTickWrites } from "./redis-tick-writes.js";
import type { Claim, ResultStore, Settlement } from "./transport.js";

/** Settings of the Redis result store, resolved by `createRedisTransport`. */
export interface RedisResultStoreSettings {
  /** Command connection. */
  readonly redis: Redis;
  readonly prefix: string;
  /** Retention when a record does not say, ms. */
  readonly defaultTtlMs: number;
}

const claimed: Claim = { status: "claimed" };
const pending: Claim = { status: "pending" };
const unrecorded: Settlement = { recorded: false, watchers: [] };

/**
 * Result store on Redis: one hash per task key, holding either a pending claim with its
 * watchers or the final report, with the retention as the key's expiry. Claim and settle
 * are scripts, so first writer wins across processes (docs/WIRE.md, Redis mapping).
 */
export class RedisResultStore implements ResultStore {
  constructor(private readonly settings: RedisResultStoreSettings) {}

  async claim(key: string, address: string, ttlMs: number): Promise<Claim> {
    const ttl = Math.max(ttlMs, this.settings.defaultTtlMs);
    const reply = await runScript(this.settings.redis, "dingoClaim", [this.key(key), address, ttl, Date.now()]);
    if (!Array.isArray(reply)) throw new Error("unexpected reply to a claim");
    if (reply[0] === 2) return { status: "settled", report: asBytes(reply[1]) };
    return reply[0] === 1 ? pending : claimed;
  }

  async settle(key: string, report: Uint8Array, ttlMs: number): Promise<Settlement> {
    const ttl = ttlMs > 0 ? ttlMs : this.settings.defaultTtlMs;
    const reply = await runScript(this.settings.redis, "dingoSettle", [this.key(key), asBuffer(report), ttl]);
    if (!Array.isArray(reply)) throw new Error("unexpected reply to a settle");
    if (reply[0] !== 1) return unrecorded;
    return { recorded: true, watchers: reply.slice(1).map(asText) };
  }

  async lookup(key: string): Promise<Uint8Array | undefined> {
    batchTickWrites(this.settings.redis);
    const report = await this.settings.redis.hgetBuffer(this.key(key), "report");
    return report === null ? undefined : asBytes(report);
  }

  private key(taskKey: string): string {
    return `${this.settings.prefix}:result:${taskKey}`;
  }
}
