import type { Redis } from "ioredis";
import type { QueueAdmin, QueueStats, RequeueResult } from "./queue-admin.js";
import { asBytes, asText } from "./redis-bytes.js";
import { consumerGroup, type RedisQueueKeys, redisQueueKeys } from "./redis-queue-keys.js";
import type { DeadLetter } from "./transport.js";

/** Settings of {@link RedisQueueAdmin}, resolved by `createRedisTransport`. */
export interface RedisQueueAdminSettings {
  /** The transport's command connection. */
  readonly redis: Redis;
  readonly prefix: string;
  /** Consumers of a group not seen for this long are not counted (they die with their lease). */
  readonly leaseMs: number;
}

/** Dead letters moved by one run of the requeue script (one atomic step, short enough not to stall Redis). */
const requeueBatch = 500;

/**
 * Moves dead letters back to a ready stream, each in one atomic step with its removal.
 * `KEYS = dead, ready:0 … ready:9`: a letter goes back to the stream of its `priority`
 * field (0 if it has none: written by an older or a foreign worker). `ARGV = "ids", id…`: those entries (missing ones are returned);
 * `ARGV = "all", after, count`: up to `count` entries after the id `after` (exclusive;
 * `-` for the start), returning the last id looked at. An entry without a `task` field is
 * left where it is. Reply: `{ moved, missing id… }` or `{ moved, last id or "" }`.
 */
const requeueScript = `
local moved = 0
local function move(entry)
  local fields = entry[2]
  local task, priority = nil, 0
  for f = 1, #fields, 2 do
    if fields[f] == 'task' then task = fields[f + 1]
    elseif fields[f] == 'priority' then priority = tonumber(fields[f + 1]) or 0 end
  end
  if task == nil then return end
  if priority < 0 or priority > 9 then priority = 0 end
  redis.call('XADD', KEYS[2 + priority], '*', 'task', task)
  redis.call('XDEL', KEYS[1], entry[1])
  moved = moved + 1
end
if ARGV[1] == 'all' then
  local start = ARGV[2] == '-' and '-' or '(' .. ARGV[2]
  local entries = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', ARGV[3])
  for _, entry in ipairs(entries) do move(entry) end
  local last = #entries > 0 and entries[#entries][1] or ''
  return { moved, last }
end
local missing = {}
for i = 2, #ARGV do
  local entries = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #entries == 0 then missing[#missing + 1] = ARGV[i] else move(entries[1]) end
end
return { moved, unpack(missing) }
`;

const requeueCommand = "dingoAdminRequeue";

/** The requeue script: `dead`, then the ten ready streams (priority 0 first), then its arguments. */
type RequeueFunction = (...keysAndArgs: (string | number)[]) => Promise<[number, ...string[]]>;

/**
 * The {@link QueueAdmin} of the Redis transport, on the keys of docs/WIRE.md (Redis
 * mapping, Operations): it reads the queue's streams, consumer group and sorted set, and
 * requeues by moving dead-letter entries back to the ready stream of their priority, so a worker in
 * any language sees an ordinary task.
 */
export class RedisQueueAdmin implements QueueAdmin {
  private readonly requeueRun: RequeueFunction;

  constructor(private readonly settings: RedisQueueAdminSettings) {
    const redis = settings.redis;
    if (!(requeueCommand in redis)) redis.defineCommand(requeueCommand, { numberOfKeys: 11, lua: requeueScript });
    const command = (redis as unknown as Record<string, RequeueFunction>)[requeueCommand] as RequeueFunction;
    this.requeueRun = command.bind(redis);
  }

  async queues(): Promise<readonly string[]> {
    const { redis, prefix } = this.settings;
    const head = `${prefix}:{`;
    const found = new Set<string>();
    // Queue keys are streams (ready, dead) and sorted sets (delayed); result hashes share
    // the `P:{…}` shape, so the type filter keeps them out.
    for (const type of ["stream", "zset"]) {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${globEscape(head)}*`, "COUNT", 1000, "TYPE", type);
        cursor = next;
        for (const key of keys) {
          const match = /^(.*)\}:(?:ready:\d|delayed|dead)$/s.exec(key.slice(head.length));
          if (match?.[1] !== undefined) found.add(match[1]);
        }
      } while (cursor !== "0");
    }
    return [...found].sort();
  }

  async stats(queue: string): Promise<QueueStats> {
    const keys = this.keys(queue);
    // One MULTI: every count of the queue from one moment. XINFO on a missing stream or
    // group is an error of that command only.
    const transaction = this.settings.redis.multi();
    for (const stream of keys.ready) {
      transaction.xlen(stream);
      transaction.xinfo("GROUPS", stream);
      transaction.xinfo("CONSUMERS", stream, consumerGroup);
    }
    transaction.zcard(keys.delayed);
    transaction.xlen(keys.dead);
    const replies = (await transaction.exec()) ?? [];
    const reply = (index: number): unknown => {
      const [error, value] = replies[index] ?? [new Error("no reply")];
      return error === null ? value : undefined;
    };
    let waiting = 0;
    let inFlight = 0;
    const consumers = new Set<string>();
    keys.ready.forEach((_, priority) => {
      const length = Number(reply(priority * 3) ?? 0);
      const group = fieldsOf(reply(priority * 3 + 1), consumerGroup);
      const pending = Number(group?.get("pending") ?? 0);
      inFlight += pending;
      // Settled entries are deleted, so the stream is its waiting entries plus the pending ones.
      waiting += Math.max(0, length - pending);
      for (const consumer of listOf(reply(priority * 3 + 2))) {
        const fields = fieldsOf([consumer]);
        const name = fields?.get("name");
        if (name === undefined) continue;
        if (Number(fields?.get("pending") ?? 0) > 0 || Number(fields?.get("idle")) < this.settings.leaseMs) {
          consumers.add(String(name));
        }
      }
    });
    const base = keys.ready.length * 3;
    return {
      queue,
      waiting,
      delayed: Number(reply(base) ?? 0),
      inFlight,
      dead: Number(reply(base + 1) ?? 0),
      consumers: consumers.size,
    };
  }

  async sharedDelayed(): Promise<undefined> {
    return undefined;
  }

  async deadLetters(queue: string, limit = 100): Promise<DeadLetter[]> {
    const reply = await this.settings.redis.xrevrangeBuffer(this.keys(queue).dead, "+", "-", "COUNT", limit);
    const letters: DeadLetter[] = [];
    for (const [id, fields] of reply) {
      let body: Uint8Array = new Uint8Array(0);
      let reason = "";
      let atMs = 0;
      let deliveries = 0;
      for (let f = 0; f + 1 < fields.length; f += 2) {
        const name = asText(fields[f]);
        const value = fields[f + 1];
        if (name === "task") body = asBytes(value);
        else if (name === "reason") reason = asText(value);
        else if (name === "at") atMs = Number(asText(value)) || 0;
        else if (name === "deliveries") deliveries = Number(asText(value)) || 0;
      }
      letters.push({ id: asText(id), queue, body, reason, atMs, deliveries });
    }
    return letters.reverse();
  }

  async requeue(queue: string, ids: readonly string[] | "all"): Promise<RequeueResult> {
    const keys = this.keys(queue);
    if (ids !== "all") {
      // XRANGE refuses what is not a stream id: such an id names no letter.
      const valid = ids.filter((id) => /^\d+-\d+$/.test(id));
      const invalid = ids.filter((id) => !valid.includes(id));
      if (valid.length === 0) return { requeued: 0, missing: invalid };
      const [moved, ...missing] = await this.requeueRun(keys.dead, ...keys.ready, "ids", ...valid);
      const notFound = new Set([...invalid, ...missing.map(String)]);
      return { requeued: Number(moved), missing: ids.filter((id) => notFound.has(id)) };
    }
    let requeued = 0;
    for (let after = "-"; ; ) {
      const [moved, last] = await this.requeueRun(keys.dead, ...keys.ready, "all", after, requeueBatch);
      requeued += Number(moved);
      if (last === undefined || last === "") return { requeued, missing: [] };
      after = String(last);
    }
  }

  async purge(queue: string): Promise<number> {
    const dead = this.keys(queue).dead;
    const replies = (await this.settings.redis.multi().xlen(dead).del(dead).exec()) ?? [];
    const [error, count] = replies[0] ?? [new Error("no reply")];
    if (error !== null) throw error;
    return Number(count);
  }

  private keys(queue: string): RedisQueueKeys {
    return redisQueueKeys(this.settings.prefix, queue);
  }
}

/** A MATCH pattern matching `text` literally. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/**
 * The fields of an XINFO reply entry (a flat `[name, value, …]` list) as a map: the
 * first entry, or with `name` the entry whose `name` field is it.
 */
function fieldsOf(reply: unknown, name?: string): Map<string, unknown> | undefined {
  for (const entry of listOf(reply)) {
    const flat = listOf(entry);
    const fields = new Map<string, unknown>();
    for (let f = 0; f + 1 < flat.length; f += 2) fields.set(String(flat[f]), flat[f + 1]);
    if (name === undefined || fields.get("name") === name) return fields;
  }
  return undefined;
}
