import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { asBuffer } from "./redis-bytes.js";
import { RedisConsumer } from "./redis-consumer.js";
import { clampPriority, consumerGroup, type RedisQueueKeys, redisQueueKeys } from "./redis-queue-keys.js";
import { RedisTickBatch } from "./redis-tick-batch.js";
import { batchTickWrites } from "./redis-tick-writes.js";
import type { ConsumeOptions, Consumer, OutgoingTask, TaskBroker } from "./transport.js";

/** Settings of the Redis task broker, resolved by `createRedisTransport`. */
export interface RedisTaskBrokerSettings {
  /** Command connection: never used for blocking reads. */
  readonly redis: Redis;
  readonly prefix: string;
  /** An unsettled delivery not extended for this long is reclaimed by another consumer. */
  readonly leaseMs: number;
  /** How often a consumer looks for deliveries whose lease ran out. */
  readonly reclaimIntervalMs: number;
  /** How often a consumer promotes due delayed tasks when it knows of none due sooner. */
  readonly delayPollMs: number;
  /** Longest blocking read, so that a consumer also notices a silently dead socket. */
  readonly blockMs: number;
  readonly maxDeadLetters: number;
  readonly deadLetterTtlMs: number;
}

/**
 * Task broker on Redis Streams: one stream per queue and priority read through a consumer
 * group, a sorted set of delayed tasks, and a dead-letter stream (docs/WIRE.md, Redis
 * mapping).
 */
export class RedisTaskBroker implements TaskBroker {
  private readonly keys = new Map<string, RedisQueueKeys>();
  private readonly consumers = new Set<RedisConsumer>();
  /** Nonces of delayed members: a per-process random part and a counter. */
  private readonly noncePrefix = randomBytes(5).toString("hex");
  private nonceCounter = 0;
  private closed = false;

  /** Acks of one tick, one `ack` script per stream: resolves with its reply. */
  readonly acks: RedisTickBatch<string>;
  /**
   * Publishes of one tick, one `publish` script per stream: an `XADD` per call cost a
   * command object and a reply each, about a seventh of the Node CPU time of a round trip.
   */
  private readonly publishes: RedisTickBatch<Buffer>;

  constructor(readonly settings: RedisTaskBrokerSettings) {
    // Last in the tick's write: an ack follows the report sent before it (`acksFollowSends`).
    this.acks = new RedisTickBatch(settings.redis, "dingoAck", (stream, ids) => [stream, consumerGroup, ...ids], {
      last: true,
    });
    this.publishes = new RedisTickBatch(settings.redis, "dingoPublish", (stream, bodies) => [stream, ...bodies]);
  }

  publish(task: OutgoingTask): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    const keys = this.queueKeys(task.queue);
    const priority = clampPriority(task.priority);
    const body = asBuffer(task.body);
    if (task.notBeforeMs > Date.now()) {
      batchTickWrites(this.settings.redis);
      const member = Buffer.concat([Buffer.from(this.delayedMemberPrefix(priority)), body]);
      const added = this.settings.redis.zadd(keys.delayed, task.notBeforeMs, member);
      this.delayedAt(task.queue, task.notBeforeMs);
      return added.then(ignore);
    }
    return this.publishes.add(keys.ready[priority] as string, body).then(ignore);
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    if (this.closed) throw closedError();
    const consumer = new RedisConsumer(this, options, (done) => this.consumers.delete(done));
    this.consumers.add(consumer);
    try {
      await consumer.start();
    } catch (error) {
      await consumer.stop();
      throw error;
    }
    return { stop: () => consumer.stop() };
  }

  /** The keys of a queue, built once. */
  queueKeys(queue: string): RedisQueueKeys {
    let keys = this.keys.get(queue);
    if (keys === undefined) {
      keys = redisQueueKeys(this.settings.prefix, queue);
      this.keys.set(queue, keys);
    }
    return keys;
  }

  /** `<priority>|<nonce>|`: what precedes the task bytes in a delayed set member. */
  delayedMemberPrefix(priority: number): string {
    return `${priority}|${this.noncePrefix}${(this.nonceCounter++).toString(16).padStart(6, "0")}|`;
  }

  /**
   * A task of `queue` is delayed until `atMs`: this process's consumers of the queue
   * promote it on time rather than at their next poll.
   */
  delayedAt(queue: string, atMs: number): void {
    for (const consumer of this.consumers) consumer.delayedAt(queue, atMs);
  }

  /** Stops every consumer. Deliveries can no longer be settled afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    const results = await Promise.allSettled([...this.consumers].map((consumer) => consumer.stop({ abandon: true })));
    for (const result of results) if (result.status === "rejected") throw result.reason;
  }
}

function ignore(): void {}

function closedError(): Error {
  return new Error("the Redis transport is closed");
}
