import type { Redis } from "ioredis";
import { asBuffer, asBytes, asText } from "./redis-bytes.js";
import { runScript } from "./redis-scripts.js";
import { RedisTickBatch } from "./redis-tick-batch.js";
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

/** One settle queued for a tick's batch. */
interface SettleItem {
  readonly key: string;
  readonly report: Buffer;
  readonly ttl: number;
}

const claimed: Claim = { status: "claimed" };
const pending: Claim = { status: "pending" };
const unrecorded: Settlement = { recorded: false, watchers: [] };

/**
 * Result store on Redis: one hash per task key, holding either a pending claim with its
 * watchers or the final report, with the retention as the key's expiry. Claim and settle
 * are scripts, so first writer wins across processes (docs/WIRE.md, Redis mapping).
 *
 * A task key `<package>.<Service>/<Method>/<id>` is stored at `P:{<task name>}:result:<id>`,
 * so the results of one task name share a hash slot: the settles, and the lookups, of one
 * task name in one tick run as one script (`RedisTickBatch`). A key without two `/` (or
 * whose task name holds a `}`, which would cut the hash tag short) is stored at
 * `P:result:<task key>` and settled and looked up alone, as before the batching.
 */
export class RedisResultStore implements ResultStore {
  private readonly settles: RedisTickBatch<SettleItem>;
  private readonly lookups: RedisTickBatch<string>;

  constructor(private readonly settings: RedisResultStoreSettings) {
    this.settles = new RedisTickBatch(settings.redis, "dingoSettle", (_tag, items) => {
      const args: (string | number | Buffer)[] = [items.length];
      for (const item of items) args.push(item.key);
      for (const item of items) args.push(item.report, item.ttl);
      return args;
    });
    this.lookups = new RedisTickBatch(settings.redis, "dingoLookup", (_tag, keys) => [keys.length, ...keys]);
  }

  async claim(key: string, address: string, ttlMs: number): Promise<Claim> {
    const ttl = Math.max(ttlMs, this.settings.defaultTtlMs);
    const reply = await runScript(this.settings.redis, "dingoClaim", [this.place(key).key, address, ttl, Date.now()]);
    if (!Array.isArray(reply)) throw new Error("unexpected reply to a claim");
    if (reply[0] === 2) return { status: "settled", report: asBytes(reply[1]) };
    return reply[0] === 1 ? pending : claimed;
  }

  async settle(key: string, report: Uint8Array, ttlMs: number): Promise<Settlement> {
    const ttl = ttlMs > 0 ? ttlMs : this.settings.defaultTtlMs;
    const { key: resultKey, tag } = this.place(key);
    const bytes = asBuffer(report);
    const reply =
      tag === undefined
        ? await runScript(this.settings.redis, "dingoSettle", [1, resultKey, bytes, ttl]).then(first)
        : await this.settles.addOwn(tag, { key: resultKey, report: bytes, ttl });
    if (!Array.isArray(reply)) throw new Error("unexpected reply to a settle");
    if (reply[0] !== 1) return unrecorded;
    return { recorded: true, watchers: reply.slice(1).map(asText) };
  }

  async lookup(key: string): Promise<Uint8Array | undefined> {
    const { key: resultKey, tag } = this.place(key);
    let report: unknown;
    if (tag === undefined) {
      batchTickWrites(this.settings.redis);
      report = await this.settings.redis.hgetBuffer(resultKey, "report");
    } else {
      report = await this.lookups.addOwn(tag, resultKey);
    }
    return report === null || report === undefined ? undefined : asBytes(report);
  }

  async forget(key: string, report: Uint8Array): Promise<boolean> {
    return (await runScript(this.settings.redis, "dingoForget", [this.place(key).key, asBuffer(report)])) === 1;
  }

  /** The hash of a task key, and the hash tag it shares with its task name's (none: alone). */
  private place(taskKey: string): { key: string; tag: string | undefined } {
    const { prefix } = this.settings;
    const slash = taskKey.indexOf("/");
    const second = slash < 0 ? -1 : taskKey.indexOf("/", slash + 1);
    const name = second < 0 ? "" : taskKey.slice(0, second);
    if (second < 0 || name.includes("}")) return { key: `${prefix}:result:${taskKey}`, tag: undefined };
    const tag = `{${name}}`;
    return { key: `${prefix}:${tag}:result:${taskKey.slice(second + 1)}`, tag };
  }
}

function first(reply: unknown): unknown {
  if (!Array.isArray(reply)) throw new Error("unexpected reply to a settle");
  return reply[0];
}
