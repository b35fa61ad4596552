import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Redis } from "ioredis";
import { handOver } from "./hand-over.js";
import { asBuffer, asBytes, asText } from "./redis-bytes.js";
import { redisConnectionName } from "./redis-connection-name.js";
import { RedisDelivery } from "./redis-delivery.js";
import { consumerGroup, type RedisQueueKeys } from "./redis-queue-keys.js";
import { runScript } from "./redis-scripts.js";
import type { RedisTaskBroker } from "./redis-task-broker.js";
import type { ConsumeOptions } from "./transport.js";

/** A ready stream of a queue, with what a delivery from it needs. */
export interface RedisStream {
  readonly keys: RedisQueueKeys;
  readonly key: string;
  readonly priority: number;
}

/** Options of {@link RedisConsumer.stop}. */
export interface RedisConsumerStopOptions {
  /** The transport closes: stop extending the leases of unsettled deliveries too. */
  readonly abandon?: boolean;
}

/** Most delayed tasks one promotion moves per queue; more are moved by the next one at once. */
const promoteLimit = 1000;
/**
 * How often a busy consumer looks again at queues whose last take found nothing: the
 * most a task waits in such a queue while the consumer's other queues keep it busy (an
 * idle consumer's blocking read covers every queue at once).
 */
const idleQueueProbeMs = 10;
/** Longest wait between attempts after an error (Redis unreachable, …). */
const maxErrorPauseMs = 2000;

/**
 * One consumer of the Redis broker: a loop that takes tasks while the prefetch window
 * has room (reclaiming expired leases first, then new entries highest priority first,
 * then a blocking read), plus timers that promote delayed tasks and extend the leases of
 * unsettled deliveries. The loop never ends on an error: it reports it, waits, recreates
 * the consumer groups if they are gone, and goes on, so a worker resumes by itself when
 * Redis comes back.
 */
export class RedisConsumer {
  readonly name = `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
  private readonly redis: Redis;
  private readonly queues: readonly RedisQueueKeys[];
  private readonly streams = new Map<string, RedisStream>();
  /** `STREAMS k1 k2 … > > …` of the blocking read. */
  private readonly blockingStreams: string[];
  private readonly prefetch: number;
  private readonly outstanding = new Set<RedisDelivery>();
  /** Dedicated connection of the blocking read, opened by start(). */
  private blocking: Redis | undefined;
  /** Client id of `blocking` (asked once per connection), to interrupt a read. */
  private blockingId: Promise<unknown> | undefined;
  /**
   * The last blocking read emptied every stream it read: the next read blocks at once
   * instead of running `take` first (which finds at most what arrived since, and costs a
   * script run per queue on the shared connection, in the way of the tasks' own commands).
   */
  private drained = false;
  private reading: Promise<unknown> | undefined;
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private stopped = false;
  private retired = false;
  private groupsReady = false;
  private reclaimDueAt = 0;
  /** Queue to take from first, rotated so that no queue starves the others. */
  private turn = 0;
  /** Queues whose last take found nothing: skipped by `take` until `probeIdleAt`. */
  private readonly idleQueues = new Set<RedisQueueKeys>();
  private probeIdleAt = 0;
  /** Wakes the loop when it waits for room or after an error. */
  private wake: (() => void) | undefined;
  private promoteTimer: NodeJS.Timeout | undefined;
  private promoteAt = Number.POSITIVE_INFINITY;
  private extendTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly broker: RedisTaskBroker,
    private readonly options: ConsumeOptions,
    private readonly onRetired: (consumer: RedisConsumer) => void,
  ) {
    this.redis = broker.settings.redis;
    this.prefetch = Math.max(1, Math.floor(options.prefetch));
    this.queues = [...new Set(options.queues)].map((queue) => broker.queueKeys(queue));
    const keys: string[] = [];
    for (const queue of this.queues) {
      queue.ready.forEach((key, priority) => {
        this.streams.set(key, { keys: queue, key, priority });
      });
      keys.push(...queue.readyByPriority);
    }
    this.blockingStreams = ["STREAMS", ...keys, ...keys.map(() => ">")];
  }

  /** Creates the groups and starts the loop and the timers. */
  async start(): Promise<void> {
    await this.createGroups();
    this.blocking = this.redis.duplicate({
      connectionName: redisConnectionName(this.broker.settings.prefix, `consumer:${this.name}`),
      enableAutoPipelining: false,
      // Wait for Redis to come back rather than fail the read: the loop goes on then.
      maxRetriesPerRequest: null,
      lazyConnect: false,
    });
    // Connection errors also surface as failed reads; report each once, there.
    this.blocking.on("error", ignore);
    // A new connection has a new client id.
    this.blocking.on("close", () => {
      this.blockingId = undefined;
    });
    this.extendTimer = setInterval(() => this.extendLeases(), Math.max(10, this.broker.settings.leaseMs / 3));
    this.extendTimer.unref();
    this.loop = this.run();
    this.schedulePromotion(0);
  }

  /**
   * Stops taking deliveries. Outstanding ones stay valid (their leases are still
   * extended) unless `abandon` is set; the consumer leaves its groups once they are settled.
   */
  stop(options: RedisConsumerStopOptions = {}): Promise<void> {
    if (options.abandon === true) this.abandon();
    this.stopping ??= this.halt();
    return this.stopping;
  }

  /** A delayed task of `queue` is due at `atMs`. */
  delayedAt(queue: string, atMs: number): void {
    if (this.stopped || !this.queues.some((keys) => keys.queue === queue)) return;
    this.schedulePromotion(atMs - Date.now());
  }

  /** A delivery is settled (or failed to settle and is left to the lease): room for another. */
  settled(delivery: RedisDelivery): void {
    this.outstanding.delete(delivery);
    this.wakeUp();
    if (this.stopped && this.outstanding.size === 0) this.retire();
  }

  /** Reports an error the consumer recovers from. */
  private readonly reportError = (error: unknown): void => this.report(error);

  report(error: unknown): void {
    try {
      this.options.onError(error);
    } catch {
      // The listener's own failure must not stop the consumer.
    }
  }

  private async halt(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.promoteTimer);
    this.wakeUp();
    await this.interruptRead();
    await this.loop;
    this.blocking?.disconnect();
    if (this.outstanding.size === 0) this.retire();
  }

  /** Forgets the unsettled deliveries: the transport is closing. */
  private abandon(): void {
    this.outstanding.clear();
    clearInterval(this.extendTimer);
  }

  /** Leaves the groups (if it owns nothing) and stops the lease timer. */
  private retire(): void {
    if (this.retired) return;
    this.retired = true;
    clearInterval(this.extendTimer);
    this.onRetired(this);
    for (const queue of this.queues) {
      runScript(this.redis, "dingoRetire", [...queue.readyByPriority, consumerGroup, this.name]).catch(ignore);
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (!this.groupsReady) await this.createGroups();
        const room = this.prefetch - this.outstanding.size;
        if (room <= 0) {
          // Entries pile up while the window is full: take them in priority order next.
          this.drained = false;
          await this.sleep(Number.POSITIVE_INFINITY);
          continue;
        }
        if (Date.now() >= this.reclaimDueAt) {
          const reclaimed = await this.reclaim(room);
          this.reclaimDueAt = Date.now() + this.broker.settings.reclaimIntervalMs;
          if (reclaimed > 0) continue;
        }
        if (this.drained || (await this.take(room)) === 0) {
          const blockMs = Math.min(this.broker.settings.blockMs, Math.max(1, this.reclaimDueAt - Date.now()));
          this.drained = await this.blockingRead(room, blockMs);
        }
        failures = 0;
      } catch (error) {
        this.drained = false;
        if (this.stopped) break;
        if (asText((error as { message?: unknown })?.message).includes("NOGROUP")) this.groupsReady = false;
        this.report(error);
        await this.sleep(Math.min(maxErrorPauseMs, 50 * 2 ** failures++));
      }
    }
  }

  private async createGroups(): Promise<void> {
    const created = [];
    for (const queue of this.queues) {
      for (const key of queue.ready) {
        created.push(
          this.redis.xgroup("CREATE", key, consumerGroup, "0", "MKSTREAM").catch((error: unknown) => {
            if (!String((error as { message?: unknown })?.message).includes("BUSYGROUP")) throw error;
          }),
        );
      }
    }
    await Promise.all(created);
    this.groupsReady = true;
  }

  /**
   * Non-blocking reads of new entries, queue by queue, until the window is full. Each
   * read is a round trip, so queues that were empty last time are skipped while others
   * keep the consumer busy, except every `idleQueueProbeMs`.
   */
  private async take(room: number): Promise<number> {
    let taken = 0;
    const count = this.queues.length;
    this.turn = (this.turn + 1) % count;
    const now = Date.now();
    const probeIdle = now >= this.probeIdleAt;
    if (probeIdle) this.probeIdleAt = now + idleQueueProbeMs;
    for (let i = 0; i < count && taken < room && !this.stopped; i++) {
      const queue = this.queues[(this.turn + i) % count] as RedisQueueKeys;
      if (!probeIdle && this.idleQueues.has(queue)) continue;
      const reply = await runScript(this.redis, "dingoTake", [
        ...queue.readyByPriority,
        consumerGroup,
        this.name,
        room - taken,
      ]);
      const delivered = this.deliverAll(queue, reply);
      if (delivered === 0) this.idleQueues.add(queue);
      else this.idleQueues.delete(queue);
      taken += delivered;
    }
    return taken;
  }

  /** Claims entries whose lease ran out, queue by queue, until the window is full. */
  private async reclaim(room: number): Promise<number> {
    let taken = 0;
    for (const queue of this.queues) {
      if (taken >= room || this.stopped) break;
      const reply = await runScript(this.redis, "dingoReclaim", [
        ...queue.readyByPriority,
        consumerGroup,
        this.name,
        this.broker.settings.leaseMs,
        room - taken,
      ]);
      taken += this.deliverAll(queue, reply);
    }
    return taken;
  }

  /** Hands out the entries of a take or reclaim reply: index, id, task, count, … */
  private deliverAll(queue: RedisQueueKeys, reply: unknown): number {
    if (!Array.isArray(reply)) return 0;
    let delivered = 0;
    for (let i = 0; i + 3 < reply.length; i += 4) {
      const key = queue.readyByPriority[Number(reply[i]) - 1];
      const stream = key === undefined ? undefined : this.streams.get(key);
      if (stream === undefined) continue;
      this.deliver(stream, asText(reply[i + 1]), asBytes(reply[i + 2]), Number(reply[i + 3]));
      delivered++;
    }
    return delivered;
  }

  /**
   * Blocks until an entry arrives on any stream (or `blockMs` passes). Entries beyond the
   * window (several streams may answer one read) go back unread, the lowest priorities first.
   * Returns whether the read emptied every stream (each answered fewer entries than asked).
   */
  private async blockingRead(room: number, blockMs: number): Promise<boolean> {
    const blocking = this.blocking;
    if (blocking === undefined || this.stopped) return false;
    if (this.blockingId === undefined) {
      // Sent back to back on one socket: the id is known by the time the read blocks.
      this.blockingId = blocking.call("CLIENT", "ID");
      this.blockingId.catch(() => {
        this.blockingId = undefined;
      });
    }
    const read = blocking.callBuffer(
      "XREADGROUP",
      "GROUP",
      consumerGroup,
      this.name,
      "COUNT",
      room,
      "BLOCK",
      Math.ceil(blockMs),
      ...this.blockingStreams,
    );
    this.reading = read;
    let reply: unknown;
    try {
      reply = await read;
    } finally {
      this.reading = undefined;
    }
    // A timeout: nothing arrived, so nothing is left behind either.
    if (!Array.isArray(reply)) return true;
    let drained = true;
    const entries: { stream: RedisStream; id: string; body: Uint8Array; before: number }[] = [];
    // RESP2 answers [[key, entries], …]; RESP3 a map, which ioredis flattens to [key, entries, …].
    const nested = Array.isArray(reply[0]);
    const step = nested ? 1 : 2;
    for (let k = 0; k < reply.length; k += step) {
      const key = nested ? (reply[k] as unknown[])[0] : reply[k];
      const items = nested ? (reply[k] as unknown[])[1] : reply[k + 1];
      const stream = this.streams.get(asText(key));
      if (stream === undefined || !Array.isArray(items)) continue;
      if (items.length >= room) drained = false;
      for (const entry of items as unknown[]) {
        if (!Array.isArray(entry)) continue;
        const fields = entry[1];
        let body: Uint8Array = new Uint8Array(0);
        let before = 0;
        if (Array.isArray(fields)) {
          for (let f = 0; f + 1 < fields.length; f += 2) {
            const name = asText(fields[f]);
            if (name === "task") body = asBytes(fields[f + 1]);
            else if (name === "deliveries") before = Number(asText(fields[f + 1])) || 0;
          }
        }
        entries.push({ stream, id: asText(entry[0]), body, before });
      }
    }
    for (const entry of entries) this.idleQueues.delete(entry.stream.keys);
    entries.sort((a, b) => b.stream.priority - a.stream.priority);
    entries.forEach((entry, index) => {
      const count = entry.before + 1;
      if (index < room) this.deliver(entry.stream, entry.id, entry.body, count);
      else this.unread(entry.stream, entry.id, entry.body, count);
    });
    return drained && entries.length <= room;
  }

  /** Interrupts a blocking read in progress without closing its socket (no entry is lost). */
  private async interruptRead(): Promise<void> {
    // The read may not have reached Redis yet when UNBLOCK does: try again for a while,
    // then close the socket (its entries, if any, are reclaimed after the lease).
    for (let tries = 0; this.reading !== undefined && tries < 100; tries++) {
      try {
        const id = await this.blockingId;
        if ((await this.redis.call("CLIENT", "UNBLOCK", String(id))) === 1) return;
      } catch {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    if (this.reading !== undefined) this.blocking?.disconnect();
  }

  private deliver(stream: RedisStream, id: string, body: Uint8Array, count: number): void {
    if (this.stopped) {
      this.unread(stream, id, body, count);
      return;
    }
    const delivery = new RedisDelivery(this.broker, this, stream, id, body, count);
    this.outstanding.add(delivery);
    handOver(delivery, this.options.onDelivery, this.reportError);
  }

  /** Gives back an entry that never reached a handler, without counting the delivery. */
  private unread(stream: RedisStream, id: string, body: Uint8Array, count: number): void {
    runScript(this.redis, "dingoRequeue", [
      stream.key,
      stream.keys.delayed,
      stream.key,
      consumerGroup,
      id,
      asBuffer(body),
      0,
      0,
      "",
      count - 1,
    ]).catch((error: unknown) => this.report(error));
  }

  /** Resets the idle time of every unsettled delivery, so that no other consumer reclaims it. */
  private extendLeases(): void {
    if (this.outstanding.size === 0) return;
    const byStream = new Map<string, string[]>();
    for (const delivery of this.outstanding) {
      const ids = byStream.get(delivery.stream.key);
      if (ids === undefined) byStream.set(delivery.stream.key, [delivery.id]);
      else ids.push(delivery.id);
    }
    for (const [key, ids] of byStream) {
      runScript(this.redis, "dingoExtend", [key, consumerGroup, this.name, ...ids]).then(
        (lost) => {
          if (Array.isArray(lost) && lost.length > 0) {
            this.report(
              new Error(`lost the lease of ${lost.length} deliveries from ${key}: another consumer has them`),
            );
          }
        },
        (error: unknown) => this.report(error),
      );
    }
  }

  /** Runs a promotion in `delayMs` unless one is due sooner. */
  private schedulePromotion(delayMs: number): void {
    if (this.stopped) return;
    const at = Date.now() + Math.max(0, delayMs);
    if (at >= this.promoteAt) return;
    clearTimeout(this.promoteTimer);
    this.promoteAt = at;
    this.promoteTimer = setTimeout(() => this.promote(), Math.max(0, delayMs));
    this.promoteTimer.unref();
  }

  /** Moves due delayed tasks of every queue to their streams; schedules the next run. */
  private promote(): void {
    this.promoteAt = Number.POSITIVE_INFINITY;
    // Runs may overlap (a local delayed publish asks for one): the script is atomic and
    // moves each task once.
    if (this.stopped) return;
    const now = Date.now();
    const runs = this.queues.map((queue) =>
      runScript(this.redis, "dingoPromote", [queue.delayed, ...queue.ready, now, promoteLimit]).then(
        (next) => Number(next),
        (error: unknown) => {
          this.report(error);
          return -1;
        },
      ),
    );
    void Promise.all(runs).then((nexts) => {
      let wait = this.broker.settings.delayPollMs;
      for (const next of nexts) if (next >= 0) wait = Math.min(wait, next - Date.now());
      this.schedulePromotion(wait);
    });
  }

  /** Waits until woken (room, stop) or `ms` passed. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
      const wake = this.wake;
      this.wake = done;
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      // A previous sleeper (none, normally) is woken too rather than left hanging.
      wake?.();
    });
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

function ignore(): void {}
