import type { Channel, ChannelModel, ConfirmChannel } from "amqplib";
import { AmqpConnection, ChannelSlot } from "./amqp-connection.js";
import { amqpNames } from "./amqp-names.js";
import { AmqpPublisher } from "./amqp-publisher.js";
import { AmqpQueueAdmin } from "./amqp-queue-admin.js";
import { AmqpReportRouter } from "./amqp-report-router.js";
import { AmqpTaskBroker } from "./amqp-task-broker.js";
import { AmqpTopology } from "./amqp-topology.js";
import { defaultPrefix } from "./default-prefix.js";
import { MemoryResultStore } from "./memory-result-store.js";
import type { ReportRouter, ResultStore, Transport } from "./transport.js";

/** Options of {@link createAmqpTransport}. */
export interface AmqpTransportOptions {
  /** Where RabbitMQ is, when no `connection` is given. Default: `amqp://guest:guest@127.0.0.1:5672`. */
  readonly url?: string;
  /**
   * An amqplib connection (`await connect(url)`) to use instead of opening one. The
   * transport opens its channels on it and never closes it. It cannot reopen it either:
   * channels closed by the broker are reopened, but if the connection itself is lost,
   * operations fail until a new transport is made. Give a `url` for automatic reconnects.
   */
  readonly connection?: ChannelModel;
  /** Prefix of every exchange and queue name; no whitespace. Default: `dingo`. */
  readonly prefix?: string;
  /**
   * Where final outcomes are kept. RabbitMQ has no key-value store: by default they are kept
   * in this process, per transport object, so claims, idempotent submission, lookups and
   * cancellation records reach only callers and workers sharing this object. Across
   * processes use Redis: `results: createRedisTransport(…).results` (mixed mode). A store
   * given here is not closed by this transport.
   */
  readonly results?: ResultStore;
  /**
   * Where reports and cancellations go instead of RabbitMQ, e.g. `createRedisTransport(…)
   * .reports` for the mixed mode of the Go original and Celery (tasks on RabbitMQ, reports
   * and results on Redis). A router given here is not closed by this transport.
   */
  readonly reports?: ReportRouter;
  /** How long final outcomes are kept in the in-process store when a task does not say, ms. Default: 10 minutes. */
  readonly resultTtlMs?: number;
  /** Most outcomes the in-process store keeps. Default: 100,000. */
  readonly maxResults?: number;
  /** How long a caller's inbox queue outlives its caller (`x-expires`), ms. Default: 2 minutes. */
  readonly inboxTtlMs?: number;
  /** Dead letters kept per queue (`x-max-length`); the oldest go first. Default: 10,000. */
  readonly maxDeadLetters?: number;
  /** How long each dead letter is kept (`x-message-ttl`), ms. Default: 7 days. */
  readonly deadLetterTtlMs?: number;
  /** How long an operation waits for a connection to RabbitMQ before failing, ms. Default: 10 s. */
  readonly connectTimeoutMs?: number;
}

/**
 * Creates a transport on RabbitMQ (≥ 3.10, no plugins): tasks in durable priority queues,
 * every publish confirmed, acked only once the outcome is recorded, durable delays in
 * fixed TTL buckets without head-of-line blocking, dead letters with their reason;
 * reports to a queue per caller; cancellations through a fanout exchange. The topology is
 * specified in docs/WIRE.md, so workers in other languages can join. The connection is
 * reopened after loss and consumers resume by themselves.
 *
 * @example
 * ```ts
 * import { createAmqpTransport } from "dingo-ts/transport/amqp";
 *
 * const transport = createAmqpTransport({ url: "amqp://guest:guest@127.0.0.1:5672" });
 * const worker = createWorker(transport, { concurrency: 16 });
 * await worker.serve(MathTasks, handlers);
 * const math = createClient(MathTasks, transport);
 *
 * // Mixed mode: tasks on RabbitMQ, reports and results on Redis.
 * const redis = createRedisTransport({ url: "redis://127.0.0.1:6379" });
 * const mixed = createAmqpTransport({ reports: redis.reports, results: redis.results });
 * ```
 */
export function createAmqpTransport(options: AmqpTransportOptions = {}): Transport {
  const prefix = options.prefix ?? defaultPrefix;
  if (prefix === "" || /\s/.test(prefix)) {
    throw new Error(`the AMQP name prefix must be non-empty and without whitespace, got "${prefix}"`);
  }
  const names = amqpNames(prefix);
  const connection = new AmqpConnection({
    url: options.url ?? "amqp://guest:guest@127.0.0.1:5672",
    connection: options.connection,
    name: `dingo-ts ${prefix}`,
    connectTimeoutMs: positive(options.connectTimeoutMs, 10_000),
  });
  // Errors of these channels reach the callers of their operations (a failed publish or
  // declaration); the events themselves say nothing more.
  const declarations = new ChannelSlot<Channel>(() => connection.openChannel(ignore));
  const topology = new AmqpTopology(
    {
      names,
      maxDeadLetters: positive(options.maxDeadLetters, 10_000),
      deadLetterTtlMs: positive(options.deadLetterTtlMs, 7 * 24 * 3600_000),
    },
    declarations,
  );
  const taskChannel = new ChannelSlot<ConfirmChannel>(() => connection.openConfirmChannel(ignore));
  const reportChannel = new ChannelSlot<ConfirmChannel>(() => connection.openConfirmChannel(ignore));
  const tasks = new AmqpTaskBroker({ connection, topology, publisher: new AmqpPublisher(taskChannel) });
  const ownReports =
    options.reports === undefined
      ? new AmqpReportRouter({
          connection,
          topology,
          channel: reportChannel,
          publisher: new AmqpPublisher(reportChannel),
          inboxTtlMs: positive(options.inboxTtlMs, 120_000),
        })
      : undefined;
  const ownResults =
    options.results === undefined
      ? new MemoryResultStore({
          defaultTtlMs: positive(options.resultTtlMs, 10 * 60_000),
          maxEntries: positive(options.maxResults, 100_000),
        })
      : undefined;
  let closing: Promise<void> | undefined;
  return {
    tasks,
    reports: options.reports ?? (ownReports as AmqpReportRouter),
    results: options.results ?? (ownResults as MemoryResultStore),
    admin: new AmqpQueueAdmin(tasks),
    close() {
      closing ??= (async () => {
        // Every step runs even if one fails; the first failure is reported after.
        const steps = await Promise.allSettled([tasks.close(), ownReports?.close()]);
        const channels = await Promise.allSettled([taskChannel.close(), reportChannel.close(), declarations.close()]);
        ownResults?.close();
        await connection.close();
        for (const step of [...steps, ...channels]) if (step.status === "rejected") throw step.reason;
      })();
      return closing;
    },
  };
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

function ignore(): void {}
