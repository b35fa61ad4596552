import type { Redis } from "ioredis";
import { batchTickWrites } from "./redis-tick-writes.js";

/**
 * The Lua scripts of the Redis transport, one per step that must be atomic. Their
 * behaviour is specified in docs/WIRE.md (Redis mapping); keys and arguments are listed
 * above each. Scripts touch only the keys they are given, all in one hash slot.
 */

/**
 * Appends tasks to a ready stream, in order: the publishes to one stream in one tick run
 * as one script. KEYS: the stream. ARGV: task bytes, task bytes, …
 */
export const publishScript = `
for i = 1, #ARGV do redis.call('XADD', KEYS[1], '*', 'task', ARGV[i]) end
return #ARGV
`;

/**
 * Moves due members of the delayed set into their ready streams.
 * KEYS: delayed, ready:0 … ready:9. ARGV: now, limit.
 * Returns the earliest remaining score, -1 if none, or now if the limit was reached.
 */
export const promoteScript = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local priority = tonumber(string.sub(member, 1, 1)) or 0
  local bar = string.find(member, '|', 3, true)
  if bar then
    redis.call('XADD', KEYS[priority + 2], '*', 'task', string.sub(member, bar + 1))
  end
  redis.call('ZREM', KEYS[1], member)
end
if #due >= tonumber(ARGV[2]) then return tonumber(ARGV[1]) end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then return tonumber(first[2]) end
return -1
`;

/**
 * Reads new entries from the ready streams, highest priority first, skipping empty streams
 * (XLEN is O(1); an XREADGROUP of an empty stream costs several times more).
 * KEYS: ready:9 … ready:0. ARGV: group, consumer, count.
 * Returns a flat list: key index (1-based), entry id, task bytes, delivery count, …
 */
export const takeScript = `
local out = {}
local left = tonumber(ARGV[3])
for i = 1, #KEYS do
  if left <= 0 then break end
  local reply = false
  if redis.call('XLEN', KEYS[i]) > 0 then
    reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', left, 'STREAMS', KEYS[i], '>')
  end
  if reply then
    for _, entry in ipairs(reply[1][2]) do
      local fields = entry[2]
      local task, before = '', 0
      for f = 1, #fields, 2 do
        if fields[f] == 'task' then task = fields[f + 1]
        elseif fields[f] == 'deliveries' then before = tonumber(fields[f + 1]) or 0 end
      end
      out[#out + 1] = i
      out[#out + 1] = entry[1]
      out[#out + 1] = task
      out[#out + 1] = before + 1
      left = left - 1
    end
  end
end
return out
`;

/**
 * Claims entries idle longer than the lease, highest priority first, and forgets
 * consumers that own nothing and were idle longer than the lease.
 * KEYS: ready:9 … ready:0. ARGV: group, consumer, lease ms, count.
 * Returns the same flat list as the take script.
 */
export const reclaimScript = `
local out = {}
local left = tonumber(ARGV[4])
local lease = tonumber(ARGV[3])
for i = 1, #KEYS do
  local cursor = '0-0'
  local rounds = 0
  while left > 0 and rounds < 10 do
    rounds = rounds + 1
    local reply = redis.call('XAUTOCLAIM', KEYS[i], ARGV[1], ARGV[2], lease, cursor, 'COUNT', left)
    cursor = reply[1]
    for _, entry in ipairs(reply[2]) do
      local fields = entry[2]
      if fields then
        local task, before = '', 0
        for f = 1, #fields, 2 do
          if fields[f] == 'task' then task = fields[f + 1]
          elseif fields[f] == 'deliveries' then before = tonumber(fields[f + 1]) or 0 end
        end
        local pending = redis.call('XPENDING', KEYS[i], ARGV[1], entry[1], entry[1], 1)
        local count = 1
        if pending[1] then count = pending[1][4] end
        out[#out + 1] = i
        out[#out + 1] = entry[1]
        out[#out + 1] = task
        out[#out + 1] = before + count
        left = left - 1
      end
    end
    if cursor == '0-0' then break end
  end
  local consumers = redis.call('XINFO', 'CONSUMERS', KEYS[i], ARGV[1])
  for _, consumer in ipairs(consumers) do
    local name, pending, idle
    for f = 1, #consumer, 2 do
      if consumer[f] == 'name' then name = consumer[f + 1]
      elseif consumer[f] == 'pending' then pending = consumer[f + 1]
      elseif consumer[f] == 'idle' then idle = consumer[f + 1] end
    end
    if name ~= ARGV[2] and pending == 0 and idle > lease then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[i], ARGV[1], name)
    end
  end
end
return out
`;

/**
 * Extends the lease of entries this consumer still owns.
 * KEYS: one ready stream. ARGV: group, consumer, id, id, …
 * Returns the ids owned by another consumer (or by nobody) now.
 */
export const extendScript = `
local lost = {}
for a = 3, #ARGV do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[a], ARGV[a], 1)
  if pending[1] and pending[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[a], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[a]
  end
end
return lost
`;

/**
 * Removes settled entries. KEYS: their stream. ARGV: group, id, id, … (one or more; the
 * acks of one stream in one tick run as one script).
 */
export const ackScript = `
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
return 1
`;

/**
 * Replaces an entry by a task queued again: a retry, a release, or an entry given back unread.
 * KEYS: its stream, delayed, target ready stream.
 * ARGV: group, id, task bytes, not-before ms, now ms, delayed member prefix ("p|nonce|"),
 * deliveries before the new entry.
 */
export const requeueScript = `
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if tonumber(ARGV[4]) > tonumber(ARGV[5]) then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[6] .. ARGV[3])
elseif tonumber(ARGV[7]) > 0 then
  redis.call('XADD', KEYS[3], '*', 'task', ARGV[3], 'deliveries', ARGV[7])
else
  redis.call('XADD', KEYS[3], '*', 'task', ARGV[3])
end
return 1
`;

/**
 * Moves an entry to the dead-letter stream.
 * KEYS: its stream, dead. ARGV: group, id, task bytes, reason, at ms, max length,
 * retention ms, delivery count, priority (of its stream, for a requeue).
 */
export const buryScript = `
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'task', ARGV[3], 'reason', ARGV[4], 'at', ARGV[5], 'deliveries', ARGV[8], 'priority', ARGV[9])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
return 1
`;

/**
 * Deletes a stopped consumer from the groups of its streams if it owns nothing.
 * KEYS: ready:9 … ready:0. ARGV: group, consumer.
 */
export const retireScript = `
for i = 1, #KEYS do
  local pending = redis.call('XPENDING', KEYS[i], ARGV[1], '-', '+', 1, ARGV[2])
  if not pending[1] then redis.call('XGROUP', 'DELCONSUMER', KEYS[i], ARGV[1], ARGV[2]) end
end
return 1
`;

/**
 * Appends reports to an open inbox, in order; a closed or unknown one is left alone.
 * KEYS: inbox list, its alive marker. ARGV: report, report, … (one or more; the reports to
 * one inbox in one tick run as one script), retention ms (last).
 */
export const sendScript = `
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RPUSH', KEYS[1], unpack(ARGV, 1, #ARGV - 1))
  redis.call('PEXPIRE', KEYS[1], ARGV[#ARGV])
  return 1
end
return 0
`;

/**
 * Claims a task key. KEYS: result hash. ARGV: watcher address ("" for none), ttl ms, now ms.
 * Returns {0} claimed, {1} pending, {2, report} settled.
 */
export const claimScript = `
local report = redis.call('HGET', KEYS[1], 'report')
if report then return {2, report} end
if redis.call('HEXISTS', KEYS[1], 'claimed') == 1 then
  if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'watcher:' .. ARGV[1], 1) end
  return {1}
end
redis.call('HSET', KEYS[1], 'claimed', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {0}
`;

/**
 * Records final reports unless one is recorded, key by key, in order.
 * KEYS: result hashes (one or more, all of one task name's hash tag: the settles of one
 * task name in one tick run as one script). ARGV: report, ttl ms, for each key in turn.
 * Returns one entry per key: {0} not recorded, or {1, watcher address, …}.
 *
 * The very same report bytes recorded already count as recorded, with the same watchers:
 * that is this settle run again, because ioredis resends a command whose reply a dropped
 * connection lost (a server stopping answers nothing to the commands of its last event
 * loop turn, which its AOF keeps). Answering "not recorded" then would make the worker
 * drop the outcome as if a cancellation had won, and the caller would never hear of it.
 * (A report holds the worker id and the time in ms, so another settle does not send the
 * same bytes.) For that, the watcher fields stay beside the report until the hash expires.
 * A missing hash (no claim, no record: the common case) is recorded at once.
 */
export const settleScript = `
local replies = {}
for k = 1, #KEYS do
  local key, report, ttl = KEYS[k], ARGV[2 * k - 1], ARGV[2 * k]
  if redis.call('HLEN', key) == 0 then
    redis.call('HSET', key, 'report', report)
    redis.call('PEXPIRE', key, ttl)
    replies[k] = {1}
  else
    local recorded = redis.call('HGET', key, 'report')
    if recorded and recorded ~= report then
      replies[k] = {0}
    else
      local out = {1}
      for _, field in ipairs(redis.call('HKEYS', key)) do
        if string.sub(field, 1, 8) == 'watcher:' then out[#out + 1] = string.sub(field, 9) end
      end
      if not recorded then
        redis.call('HDEL', key, 'claimed')
        redis.call('HSET', key, 'report', report)
        redis.call('PEXPIRE', key, ttl)
      end
      replies[k] = out
    end
  end
end
return replies
`;

/**
 * Reads recorded reports. KEYS: result hashes (one or more, all of one task name's hash
 * tag: the lookups of one task name in one tick run as one script).
 * Returns one entry per key: its report, or nil if none.
 */
export const lookupScript = `
local replies = {}
for k = 1, #KEYS do replies[k] = redis.call('HGET', KEYS[k], 'report') end
return replies
`;

/**
 * Deletes a result hash if its report is exactly the one given (operators requeueing a
 * dead-lettered task). KEYS: result hash. ARGV: report. Returns 1 if deleted.
 */
export const forgetScript = `
if redis.call('HGET', KEYS[1], 'report') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/** Every script, by the name it is registered under on a connection. */
export const redisScripts = {
  dingoPublish: { keys: 1, lua: publishScript },
  dingoPromote: { keys: 11, lua: promoteScript },
  dingoTake: { keys: 10, lua: takeScript },
  dingoReclaim: { keys: 10, lua: reclaimScript },
  dingoExtend: { keys: 1, lua: extendScript },
  dingoAck: { keys: 1, lua: ackScript },
  dingoRequeue: { keys: 3, lua: requeueScript },
  dingoBury: { keys: 2, lua: buryScript },
  dingoRetire: { keys: 10, lua: retireScript },
  dingoSend: { keys: 2, lua: sendScript },
  dingoClaim: { keys: 1, lua: claimScript },
  dingoForget: { keys: 1, lua: forgetScript },
  // Any number of keys: the number comes first among the arguments.
  dingoSettle: { keys: undefined, lua: settleScript },
  dingoLookup: { keys: undefined, lua: lookupScript },
} as const;

/** Names of the scripts. */
export type RedisScriptName = keyof typeof redisScripts;

/** An argument of a script: keys and text as strings, binary values as Buffers. */
export type ScriptArgument = string | number | Buffer;

type ScriptFunction = (...args: ScriptArgument[]) => Promise<unknown>;

/**
 * Registers the scripts on a connection (ioredis sends a script in full once per socket,
 * then by its SHA1, so a restarted server never answers NOSCRIPT out of order). Names
 * start with `dingo` so as not to clash with a user's own on a shared connection.
 */
export function installScripts(redis: Redis): void {
  for (const [name, { keys, lua }] of Object.entries(redisScripts)) {
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: keys, lua });
  }
}

/** Runs a script registered by {@link installScripts}; bulk replies come back as Buffers. */
export function runScript(redis: Redis, name: RedisScriptName, args: readonly ScriptArgument[]): Promise<unknown> {
  const script = (redis as unknown as Record<string, ScriptFunction>)[`${name}Buffer`];
  if (script === undefined) return Promise.reject(new Error(`the Redis script ${name} is not installed`));
  batchTickWrites(redis);
  return script.apply(redis, args as ScriptArgument[]);
}
