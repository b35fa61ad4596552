import { amqpNames } from "../transport/amqp-names.js";
import { defaultPrefix } from "../transport/default-prefix.js";
import { redisQueueKeys } from "../transport/redis-queue-keys.js";
import type { TransportKind } from "./transport-from-url.js";

/** Where the queue of a `dingo bench` run lives. */
export interface BenchQueue {
  readonly kind: TransportKind;
  /** The task broker's URL (`--transport`). */
  readonly url: string;
  /** The broker's prefix; the transports' default, `dingo`, when absent. */
  readonly prefix: string | undefined;
  readonly queue: string;
}

/**
 * Deletes the broker objects of a bench run's queue, named as docs/WIRE.md specifies:
 * the Redis streams and sets of `{queue}`, or the RabbitMQ task and dead-letter queues
 * (durable: they would outlive the run, one per run). Call it after the worker closed,
 * or its consumer would recreate them. Nothing is left on the memory transport.
 */
export async function deleteBenchQueue(where: BenchQueue): Promise<void> {
  const prefix = where.prefix ?? defaultPrefix;
  if (where.kind === "redis") {
    const { Redis } = await import("ioredis");
    const redis = new Redis(where.url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
    redis.on("error", () => {});
    try {
      const keys = redisQueueKeys(prefix, where.queue);
      await redis.del(...keys.ready, keys.delayed, keys.dead);
    } finally {
      redis.disconnect();
    }
  } else if (where.kind === "amqp") {
    const { connect } = await import("amqplib");
    const connection = await connect(where.url);
    connection.on("error", () => {});
    try {
      const channel = await connection.createChannel();
      const names = amqpNames(prefix);
      // Deleting a queue that was never declared (no dead letters) is not an error.
      await channel.deleteQueue(names.taskQueue(where.queue));
      await channel.deleteQueue(names.deadQueue(where.queue));
    } finally {
      await connection.close();
    }
  }
}
