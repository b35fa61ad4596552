import type { DeadLetter } from "./transport.js";

/**
 * What operators (`dingo inspect`, `dingo dead …`, the worker's queue-depth gauge) need of
 * a broker: its queues, their counts, and the dead letters of each, which can be put back
 * or thrown away. Every transport has one (`transport.admin`).
 *
 * It is separate from the `TaskBroker` because nothing on the task path uses it, and
 * because some answers cost a broker a scan: call it from tools and scrapes, not per task.
 * A count a broker cannot tell is `undefined` (documented per field), never a guess.
 */
export interface QueueAdmin {
  /**
   * The queues the broker holds anything for (ready, delayed, pending or dead tasks, or a
   * consumer group), sorted; `undefined` when the broker cannot list them (RabbitMQ over
   * AMQP has no listing: name the queues).
   */
  queues(): Promise<readonly string[] | undefined>;
  /** The counts of one queue; a queue the broker does not know has zeros. */
  stats(queue: string): Promise<QueueStats>;
  /**
   * Tasks delayed in storage that every queue shares, so that no queue can be given its
   * own count: RabbitMQ's delay buckets. `undefined` for brokers that count delays per
   * queue ({@link QueueStats.delayed}).
   */
  sharedDelayed(): Promise<number | undefined>;
  /** The newest dead letters of a queue, oldest first, at most `limit` (default 100). */
  deadLetters(queue: string, limit?: number): Promise<DeadLetter[]>;
  /**
   * Puts dead letters back on their queue as fresh tasks: due now, delivery count 0, the
   * bytes as they were dead-lettered. `ids` picks letters by {@link DeadLetter.id};
   * `"all"` takes every one. A letter leaves the dead-letter store only once its task is
   * queued again (atomically, or queued first and removed after: a crash in between
   * leaves it in both places, never in neither).
   */
  requeue(queue: string, ids: readonly string[] | "all"): Promise<RequeueResult>;
  /** Deletes every dead letter of a queue; resolves with how many there were. */
  purge(queue: string): Promise<number>;
}

/** The counts of one queue at one moment (not one atomic snapshot across fields on every broker). */
export interface QueueStats {
  readonly queue: string;
  /** Tasks ready for delivery that no consumer holds. */
  readonly waiting: number;
  /** Tasks published with a delay (or scheduled for a retry) and not yet due; `undefined` on RabbitMQ (see {@link QueueAdmin.sharedDelayed}). */
  readonly delayed: number | undefined;
  /** Deliveries handed to consumers and not yet settled; `undefined` on RabbitMQ (AMQP does not tell unacknowledged counts). */
  readonly inFlight: number | undefined;
  /** Dead letters kept. */
  readonly dead: number;
  /**
   * Consumers of the queue. On Redis: consumers of its group seen within the lease (a
   * consumer that died is counted until its lease runs out, then its group entry is removed).
   */
  readonly consumers: number;
}

/** The answer of {@link QueueAdmin.requeue}. */
export interface RequeueResult {
  /** How many dead letters were queued again. */
  readonly requeued: number;
  /** The ids asked for that were not (or no longer) among the dead letters. */
  readonly missing: readonly string[];
}
