"""The "Redis mapping" of docs/WIRE.md, for a Python worker and caller.

Every key, command and script here is the one WIRE.md specifies; the Lua below was
written from that text, not copied from the TypeScript runtime, so that this file
proves the text is enough. Section names of WIRE.md are given in the comments.
"""

import secrets
import time
import uuid
from dataclasses import dataclass

import redis

from envelope import Task, now_ms

GROUP = "dingo"  # "Conventions": the consumer group of every ready stream
PRIORITIES = range(10)

# "Promotion": due members of the delayed set into their ready streams.
# KEYS: delayed, ready:0 .. ready:9. ARGV: now, limit.
PROMOTE = """
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(members) do
  local p = tonumber(string.sub(member, 1, 1))
  local second_bar = string.find(member, '|', 3, true)
  redis.call('XADD', KEYS[p + 2], '*', 'task', string.sub(member, second_bar + 1))
  redis.call('ZREM', KEYS[1], member)
end
if #members == tonumber(ARGV[2]) then return tonumber(ARGV[1]) end
local earliest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #earliest == 0 then return -1 end
return tonumber(earliest[2])
"""

# Shared by TAKE and RECLAIM: the fields of a stream entry as (task, deliveries before it).
_ENTRY_FIELDS = """
local function task_of(fields)
  local task, before = nil, 0
  for f = 1, #fields, 2 do
    if fields[f] == 'task' then task = fields[f + 1] end
    if fields[f] == 'deliveries' then before = tonumber(fields[f + 1]) end
  end
  return task, before
end
"""

# "Consume", step 1: new entries, priority 9 first, skipping empty streams.
# KEYS: ready:9 .. ready:0. ARGV: group, consumer, count.
# Returns {stream index, id, task, delivery count, ...}.
TAKE = _ENTRY_FIELDS + """
local out, left = {}, tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
  if left == 0 then break end
  if redis.call('XLEN', key) > 0 then
    local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', left, 'STREAMS', key, '>')
    if reply then
      for _, entry in ipairs(reply[1][2]) do
        local task, before = task_of(entry[2])
        table.insert(out, i); table.insert(out, entry[1]); table.insert(out, task); table.insert(out, before + 1)
        left = left - 1
      end
    end
  end
end
return out
"""

# "Consume", step 3: entries whose lease ran out, and consumers that are gone.
# KEYS: ready:9 .. ready:0. ARGV: group, consumer, lease ms, count.
RECLAIM = _ENTRY_FIELDS + """
local out, left, lease = {}, tonumber(ARGV[4]), tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
  if left > 0 then
    local reply = redis.call('XAUTOCLAIM', key, ARGV[1], ARGV[2], lease, '0-0', 'COUNT', left)
    for _, entry in ipairs(reply[2]) do
      if entry[2] then
        local task, before = task_of(entry[2])
        local pending = redis.call('XPENDING', key, ARGV[1], entry[1], entry[1], 1)
        table.insert(out, i); table.insert(out, entry[1]); table.insert(out, task)
        table.insert(out, before + pending[1][4])
        left = left - 1
      end
    end
  end
  for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', key, ARGV[1])) do
    local info = {}
    for f = 1, #consumer, 2 do info[consumer[f]] = consumer[f + 1] end
    if info['name'] ~= ARGV[2] and info['pending'] == 0 and info['idle'] > lease then
      redis.call('XGROUP', 'DELCONSUMER', key, ARGV[1], info['name'])
    end
  end
end
return out
"""

# "Lease extension". KEYS: one ready stream. ARGV: group, consumer, id...
# Returns the ids this consumer no longer owns.
EXTEND = """
local lost = {}
for a = 3, #ARGV do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[a], ARGV[a], 1)
  if pending[1] and pending[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[a], 'JUSTID')
  else
    table.insert(lost, ARGV[a])
  end
end
return lost
"""

# "Settlements": ack. KEYS: stream. ARGV: group, id.
ACK = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""

# "Settlements": retry, release, unread. KEYS: stream, delayed, target ready stream.
# ARGV: group, id, task bytes, not_before_ms, now, priority, deliveries before the new entry.
REQUEUE = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if tonumber(ARGV[4]) > tonumber(ARGV[5]) then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[6] .. '|' .. ARGV[8] .. '|' .. ARGV[3])
elseif tonumber(ARGV[7]) > 0 then
  redis.call('XADD', KEYS[3], '*', 'task', ARGV[3], 'deliveries', ARGV[7])
else
  redis.call('XADD', KEYS[3], '*', 'task', ARGV[3])
end
return 1
"""

# "Settlements": dead-letter. KEYS: stream, dead.
# ARGV: group, id, bytes, reason, at, max length, retention ms, delivery count, priority.
BURY = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*',
  'task', ARGV[3], 'reason', ARGV[4], 'at', ARGV[5], 'deliveries', ARGV[8], 'priority', ARGV[9])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
return 1
"""

# "Reports": send to an inbox if its caller is alive. KEYS: inbox, inbox:alive. ARGV: report, retention.
SEND = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# "Result store": claim. KEYS: result hash. ARGV: address, ttl, now.
# Returns {0} claimed, {1} pending, {2, report} settled.
CLAIM = """
local report = redis.call('HGET', KEYS[1], 'report')
if report then return {2, report} end
if redis.call('HEXISTS', KEYS[1], 'claimed') == 1 then
  if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'watcher:' .. ARGV[1], '1') end
  return {1}
end
redis.call('HSET', KEYS[1], 'claimed', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {0}
"""

# "Result store": settle, one key. KEYS: result hash. ARGV: report, ttl.
# Returns {0} not recorded, or {1, watcher address, ...}.
SETTLE = """
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'report', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1}
end
local recorded = redis.call('HGET', KEYS[1], 'report')
if recorded and recorded ~= ARGV[1] then return {0} end
local out = {1}
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 8) == 'watcher:' then table.insert(out, string.sub(field, 9)) end
end
if not recorded then
  redis.call('HDEL', KEYS[1], 'claimed')
  redis.call('HSET', KEYS[1], 'report', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return out
"""


@dataclass
class RedisDelivery:
    """One task taken from a ready stream and not yet settled."""

    queue: str
    stream: str
    entry_id: bytes
    body: bytes
    count: int  # the delivery count: 1 the first time


class RedisBackend:
    """Task broker, report router and result store on one Redis (WIRE.md "Redis mapping")."""

    def __init__(
        self,
        url="redis://127.0.0.1:6379",
        prefix="dingo",
        lease_ms=30_000,
        result_ttl_ms=600_000,
        inbox_ttl_ms=120_000,
        dead_ttl_ms=7 * 24 * 3600_000,
        max_dead=10_000,
        delay_poll_ms=100,
    ):
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError("the prefix must be non-empty and without braces")
        self.prefix, self.lease_ms, self.result_ttl_ms = prefix, lease_ms, result_ttl_ms
        self.inbox_ttl_ms, self.dead_ttl_ms, self.max_dead = inbox_ttl_ms, dead_ttl_ms, max_dead
        self.delay_poll_ms = delay_poll_ms
        self.keep_alive_interval_s = lease_ms / 3000  # "Lease extension": every third of the lease
        self.redis = redis.Redis.from_url(url)
        # Blocking reads (XREADGROUP BLOCK, BLMPOP) get a connection of their own.
        self.blocking = redis.Redis.from_url(url)
        self.scripts = {
            name: self.redis.register_script(lua)
            for name, lua in dict(
                promote=PROMOTE, take=TAKE, reclaim=RECLAIM, extend=EXTEND, ack=ACK, requeue=REQUEUE,
                bury=BURY, send=SEND, claim=CLAIM, settle=SETTLE,
            ).items()
        }
        self.queues: list[str] = []
        self.inbox: str | None = None
        self.pubsub = None

    # ---- keys ("Keys") -------------------------------------------------------------

    def ready(self, queue: str, priority: int) -> str:
        return f"{self.prefix}:{{{queue}}}:ready:{priority}"

    def delayed(self, queue: str) -> str:
        return f"{self.prefix}:{{{queue}}}:delayed"

    def dead(self, queue: str) -> str:
        return f"{self.prefix}:{{{queue}}}:dead"

    def result_key(self, key: str) -> str:
        """`P:{<task name>}:result:<id>`; `P:result:<key>` for keys without a usable tag."""
        first = key.find("/")
        second = key.find("/", first + 1) if first >= 0 else -1
        name = key[:second]
        if second < 0 or "}" in name:
            return f"{self.prefix}:result:{key}"
        return f"{self.prefix}:{{{name}}}:result:{key[second + 1:]}"

    def _run(self, script: str, keys, args):
        return self.scripts[script](keys=keys, args=args)

    # ---- publish ("Publish") -----------------------------------------------------------

    def publish(self, body: bytes, queue: str, priority: int, not_before_ms: int, task_id: str = "") -> None:
        p = min(9, max(0, priority))
        if not_before_ms <= now_ms():
            self.redis.xadd(self.ready(queue, p), {"task": body})
        else:
            member = f"{p}|{secrets.token_hex(8)}|".encode() + body
            self.redis.zadd(self.delayed(queue), {member: not_before_ms})

    # ---- consume ("Consume", "Promotion", "Lease extension") --------------------------

    def consume(self, queues: list[str], consumer: str) -> None:
        self.queues, self.consumer = list(queues), consumer
        self._create_groups()
        now = time.monotonic()
        self.next_promotion = {queue: now for queue in self.queues}
        self.next_reclaim = now

    def _create_groups(self) -> None:
        for queue in self.queues:
            for p in PRIORITIES:
                try:
                    self.redis.xgroup_create(self.ready(queue, p), GROUP, id="0", mkstream=True)
                except redis.ResponseError as error:
                    if "BUSYGROUP" not in str(error):
                        raise

    def _streams(self, queue: str) -> list[str]:
        return [self.ready(queue, p) for p in reversed(PRIORITIES)]

    def _promote_due(self) -> None:
        now = time.monotonic()
        for queue in self.queues:
            if self.next_promotion[queue] > now:
                continue
            keys = [self.delayed(queue)] + [self.ready(queue, p) for p in PRIORITIES]
            earliest = self._run("promote", keys, [now_ms(), 100])
            wait_ms = self.delay_poll_ms if earliest < 0 else max(0, earliest - now_ms())
            self.next_promotion[queue] = now + min(wait_ms, self.delay_poll_ms) / 1000

    def _deliveries(self, queue: str, flat) -> list[RedisDelivery]:
        streams = self._streams(queue)
        return [
            RedisDelivery(queue, streams[int(flat[i]) - 1], flat[i + 1], flat[i + 2], int(flat[i + 3]))
            for i in range(0, len(flat), 4)
        ]

    def next_delivery(self, max_wait_ms: int) -> RedisDelivery | None:
        """One delivery, or None after about `max_wait_ms` without one (prefetch window 1)."""
        try:
            return self._next_delivery(max_wait_ms)
        except redis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            self._create_groups()  # Redis lost its data or the key was deleted
            return None

    def _next_delivery(self, max_wait_ms: int) -> RedisDelivery | None:
        self._promote_due()
        if time.monotonic() >= self.next_reclaim:
            self.next_reclaim = time.monotonic() + self.lease_ms / 2000
            for queue in self.queues:
                found = self._run("reclaim", self._streams(queue), [GROUP, self.consumer, self.lease_ms, 1])
                if found:
                    return self._deliveries(queue, found)[0]
        for queue in self.queues:
            found = self._run("take", self._streams(queue), [GROUP, self.consumer, 1])
            if found:
                return self._deliveries(queue, found)[0]
        # Nothing waiting: block on every ready stream until something arrives or a
        # promotion is due (delayed tasks are promoted at least every delay_poll_ms).
        due = min(self.next_promotion.values()) - time.monotonic()
        block = int(max(1, min(max_wait_ms, due * 1000)))
        streams = {key: ">" for queue in self.queues for key in self._streams(queue)}
        reply = self.blocking.xreadgroup(GROUP, self.consumer, streams, count=1, block=block)
        taken = []
        for stream, entries in reply or []:
            stream = stream.decode()
            queue = next(q for q in self.queues if stream in self._streams(q))
            for entry_id, fields in entries:
                before = int(fields.get(b"deliveries", b"0"))
                taken.append(RedisDelivery(queue, stream, entry_id, fields[b"task"], before + 1))
        # Several streams can answer at once: keep the first, give back the rest unread.
        for extra in taken[1:]:
            self.unread(extra)
        return taken[0] if taken else None

    def keep_alive(self, delivery: RedisDelivery) -> bool:
        """Extends the lease; False if another consumer owns the delivery now."""
        lost = self._run("extend", [delivery.stream], [GROUP, self.consumer, delivery.entry_id])
        return not lost

    # ---- settlements ("Settlements") ---------------------------------------------------

    def ack(self, delivery: RedisDelivery) -> None:
        self._run("ack", [delivery.stream], [GROUP, delivery.entry_id])

    def retry(self, delivery: RedisDelivery, next_task: Task) -> None:
        queue = next_task.queue or delivery.queue
        body = next_task.SerializeToString()
        priority = min(9, max(0, next_task.priority))
        if queue != delivery.queue:  # another queue, another slot: publish, then ack
            self.publish(body, queue, priority, next_task.not_before_ms)
            self.ack(delivery)
            return
        self._requeue(delivery, body, next_task.not_before_ms, self.ready(queue, priority), 0, priority)

    def release(self, delivery: RedisDelivery) -> None:
        self._requeue(delivery, delivery.body, 0, delivery.stream, delivery.count)

    def unread(self, delivery: RedisDelivery) -> None:
        """Gives back a delivery no handler saw, without counting it."""
        self._requeue(delivery, delivery.body, 0, delivery.stream, delivery.count - 1)

    def _requeue(self, delivery, body, not_before_ms, target, deliveries, priority=0) -> None:
        keys = [delivery.stream, self.delayed(delivery.queue), target]
        args = [GROUP, delivery.entry_id, body, not_before_ms, now_ms(), priority, deliveries, secrets.token_hex(8)]
        self._run("requeue", keys, args)

    def dead_letter(self, delivery: RedisDelivery, reason: str) -> None:
        keys = [delivery.stream, self.dead(delivery.queue)]
        # The priority of the stream it came from (the key ends in ready:<p>), for a requeue.
        priority = int(delivery.stream.rsplit(":", 1)[1])
        args = [GROUP, delivery.entry_id, delivery.body, reason, now_ms(), self.max_dead, self.dead_ttl_ms,
                delivery.count, priority]
        self._run("bury", keys, args)

    def dead_letters(self, queue: str, limit: int = 100) -> list[dict]:
        """The newest dead letters of `queue` (for operators and tests)."""
        entries = self.redis.xrevrange(self.dead(queue), "+", "-", count=limit)
        return [{k.decode(): v for k, v in fields.items()} for _, fields in entries]

    # ---- reports ("Reports", "Cancellation broadcast") ----------------------------------

    def send(self, address: str, report: bytes) -> None:
        self._run("send", [address, f"{address}:alive"], [report, self.inbox_ttl_ms])

    def open_inbox(self) -> str:
        self.inbox = f"{self.prefix}:inbox:{{{uuid.uuid4()}}}"
        self.redis.set(f"{self.inbox}:alive", "1", px=self.inbox_ttl_ms)
        self.inbox_refreshed = time.monotonic()
        return self.inbox

    def read_inbox(self, timeout_s: float) -> list[bytes]:
        if time.monotonic() - self.inbox_refreshed > self.inbox_ttl_ms / 3000:
            self.redis.pexpire(f"{self.inbox}:alive", self.inbox_ttl_ms)
            self.inbox_refreshed = time.monotonic()
        # BLMPOP <timeout> 1 <inbox> LEFT COUNT 512 (redis-py 4.3 has no helper for it).
        reply = self.blocking.execute_command("BLMPOP", max(0.01, timeout_s), 1, self.inbox, "LEFT", "COUNT", 512)
        return list(reply[1]) if reply else []

    def close_inbox(self) -> None:
        if self.inbox is not None:
            self.redis.delete(self.inbox, f"{self.inbox}:alive")
            self.inbox = None

    def broadcast(self, report: bytes) -> None:
        self.redis.publish(f"{self.prefix}:broadcast", report)

    def subscribe(self) -> None:
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(f"{self.prefix}:broadcast")

    def poll_broadcasts(self) -> list[bytes]:
        out = []
        while self.pubsub is not None and (message := self.pubsub.get_message(timeout=0)) is not None:
            out.append(message["data"])
        return out

    # ---- result store ("Result store") --------------------------------------------------

    def claim(self, key: str, address: str, ttl_ms: int):
        """("claimed" | "pending", None) or ("settled", report bytes)."""
        reply = self._run("claim", [self.result_key(key)], [address, max(ttl_ms, self.result_ttl_ms), now_ms()])
        return ("claimed", "pending", "settled")[reply[0]], (reply[1] if len(reply) > 1 else None)

    def settle(self, key: str, report: bytes, ttl_ms: int) -> tuple[bool, list[str]]:
        reply = self._run("settle", [self.result_key(key)], [report, ttl_ms or self.result_ttl_ms])
        return bool(reply[0]), [w.decode() for w in reply[1:]]

    def lookup(self, key: str) -> bytes | None:
        return self.redis.hget(self.result_key(key), "report")

    def close(self) -> None:
        self.close_inbox()
        if self.pubsub is not None:
            self.pubsub.close()
        self.redis.close()
        self.blocking.close()
