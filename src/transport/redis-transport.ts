import { Redis } from "ioredis";
import { defaultPrefix } from "./default-prefix.js";
import { redisConnectionName } from "./redis-connection-name.js";
import { RedisQueueAdmin } from "./redis-queue-admin.js";
import { RedisReportRouter } from "./redis-report-router.js";
import { RedisResultStore } from "./redis-result-store.js";
import { installScripts } from "./redis-scripts.js";
import { RedisTaskBroker } from "./redis-task-broker.js";
import type { Transport } from "./transport.js";

/** Options of {@link createRedisTransport}. */
export interface RedisTransportOptions {
  /** Where Redis is, when no `connection` is given. Default: `redis://127.0.0.1:6379`. */
  readonly url?: string;
  /**
   * A connection to use for commands instead of opening one. The transport never closes
   * it; it duplicates it for blocking reads and broadcasts (those it closes). It must not
   * use ioredis's `keyPrefix` (use `prefix`).
   */
  readonly connection?: Redis;
  /** Prefix of every key and channel; must not contain `{` or `}`. Default: `dingo`. */
  readonly prefix?: string;
  /**
   * How long a delivery may go without its lease being extended before another consumer
   * takes it over, ms. A running delivery's lease is extended every third of this.
   * Default: 30 s.
   */
  readonly leaseMs?: number;
  /** How often a consumer looks for deliveries whose lease ran out, ms. Default: half the lease. */
  readonly reclaimIntervalMs?: number;
  /**
   * How often a consumer checks for due delayed tasks published by other processes, ms
   * (those published through this transport are promoted on time). Default: 100.
   */
  readonly delayPollMs?: number;
  /** How long final outcomes are kept when a task does not say, ms. Default: 10 minutes. */
  readonly resultTtlMs?: number;
  /**
   * How long an inbox keeps reports for a caller that went away (and goes on accepting
   * them), ms. Default: 2 minutes.
   */
  readonly inboxTtlMs?: number;
  /** Dead letters kept per queue (approximately); the oldest go first. Default: 10,000. */
  readonly maxDeadLetters?: number;
  /** How long a queue's dead letters are kept after the last one, ms. Default: 7 days. */
  readonly deadLetterTtlMs?: number;
  /** Longest blocking read, ms; also how soon a silently dead socket is noticed. Default: 5 s. */
  readonly blockMs?: number;
}

/**
 * Creates a transport on Redis (≥ 7.0): tasks on Streams with consumer groups, at least
 * once with leases, durable delays and dead letters; reports in per-caller lists;
 * cancellations by Pub/Sub; results in expiring hashes. The key layout is specified in
 * docs/WIRE.md, so workers in other languages can join.
 *
 * @example
 * ```ts
 * import { createRedisTransport } from "dingo-ts/transport/redis";
 *
 * const transport = createRedisTransport({ url: "redis://127.0.0.1:6379" });
 * const worker = createWorker(transport, { concurrency: 16 });
 * await worker.serve(MathTasks, handlers);
 * const math = createClient(MathTasks, transport);
 * ```
 */
export function createRedisTransport(options: RedisTransportOptions = {}): Transport {
  const prefix = options.prefix ?? defaultPrefix;
  if (/[{}]/.test(prefix) || prefix === "") {
    throw new Error(`the Redis key prefix must be non-empty and without braces, got "${prefix}"`);
  }
  if (options.connection?.options.keyPrefix) {
    // Scripts get prefixed keys but unprefixed inbox addresses: they would not match.
    throw new Error("a connection with ioredis's keyPrefix cannot be used: give the transport a prefix instead");
  }
  const owned = options.connection === undefined;
  const redis =
    options.connection ??
    new Redis(options.url ?? "redis://127.0.0.1:6379", {
      connectionName: redisConnectionName(prefix, "commands"),
      // Off: ioredis writes each command at once without waiting for earlier replies, so
      // commands are pipelined anyway; its auto-pipelining (batching per tick) measured
      // about a third slower here for round trips at 1 and 64 in flight.
      enableAutoPipelining: false,
    });
  // Failures reach the caller of each command; the event itself says nothing more.
  if (owned) redis.on("error", () => {});
  installScripts(redis);
  const leaseMs = positive(options.leaseMs, 30_000);
  const blockMs = positive(options.blockMs, 5000);
  const tasks = new RedisTaskBroker({
    redis,
    prefix,
    leaseMs,
    reclaimIntervalMs: positive(options.reclaimIntervalMs, leaseMs / 2),
    delayPollMs: positive(options.delayPollMs, 100),
    blockMs,
    maxDeadLetters: positive(options.maxDeadLetters, 10_000),
    deadLetterTtlMs: positive(options.deadLetterTtlMs, 7 * 24 * 3600_000),
  });
  const reports = new RedisReportRouter({ redis, prefix, inboxTtlMs: positive(options.inboxTtlMs, 120_000), blockMs });
  const results = new RedisResultStore({ redis, prefix, defaultTtlMs: positive(options.resultTtlMs, 10 * 60_000) });
  let closing: Promise<void> | undefined;
  /** Forks still open: closed with this transport, so that none outlives it. */
  const forks = new Set<Transport>();
  return {
    tasks,
    reports,
    results,
    admin: new RedisQueueAdmin({ redis, prefix, leaseMs }),
    // Reports and acks share the command connection, acks last in each tick's write.
    acksFollowSends: true,
    fork() {
      const fork = forkRedisTransport(options);
      forks.add(fork);
      return {
        ...fork,
        close: () => {
          forks.delete(fork);
          return fork.close();
        },
      };
    },
    close() {
      closing ??= (async () => {
        // Every step runs even if one fails; the first failure is reported after.
        const steps = await Promise.allSettled([tasks.close(), reports.close(), ...[...forks].map((f) => f.close())]);
        if (owned) await redis.quit().catch(() => redis.disconnect());
        for (const step of steps) if (step.status === "rejected") throw step.reason;
      })();
      return closing;
    },
  };
}

/** A transport like `createRedisTransport(options)` on connections of its own. */
function forkRedisTransport(options: RedisTransportOptions): Transport {
  const theirs = options.connection;
  if (theirs === undefined) return createRedisTransport(options);
  // The user's connection stays theirs; the fork's copy of it is the fork's to close.
  const copy = theirs.duplicate();
  const fork = createRedisTransport({ ...options, connection: copy });
  return {
    ...fork,
    async close() {
      try {
        await fork.close();
      } finally {
        await copy.quit().catch(() => copy.disconnect());
      }
    },
  };
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}
