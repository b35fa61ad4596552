import { maxPriority } from "../task-options.js";

/** Names of the RabbitMQ topology under one prefix (docs/WIRE.md, RabbitMQ mapping). */
export interface AmqpNames {
  readonly prefix: string;
  /** Direct exchange of ready tasks; routing key: the wire queue name. */
  readonly tasks: string;
  /** Direct exchange of dead letters; routing key: the wire queue name. */
  readonly dead: string;
  /** Fanout exchange of cancellation broadcasts. */
  readonly broadcast: string;
  /** The AMQP queue holding the ready tasks of a wire queue. */
  taskQueue(queue: string): string;
  /** The AMQP queue holding the dead letters of a wire queue. */
  deadQueue(queue: string): string;
  /** The exchange and queue (one name) of the delay bucket of `ms`. */
  delayBucket(ms: number): string;
  /** The queue of an inbox with id `id`. */
  inbox(id: string): string;
}

/** Headers dingo sets on task messages and dead letters. */
export const headers = {
  /** `not_before_ms` of a delayed task. */
  notBefore: "dingo-not-before",
  /** Deliveries before this message was published. */
  deliveries: "dingo-deliveries",
  /** Why a task was dead-lettered. */
  reason: "dingo-reason",
  /** When a task was dead-lettered, epoch ms. */
  deadAt: "dingo-dead-at",
  /** The wire queue a dead letter came from. */
  queue: "dingo-queue",
} as const;

/** Arguments of a task queue: every declarer must use exactly these. */
export const taskQueueArguments = { "x-max-priority": maxPriority } as const;

/** The longest delay bucket: 2^31 ms, about 24.8 days (RabbitMQ takes TTLs up to 2^32 − 1). */
export const maxBucketExponent = 31;

/** Builds the names of a prefix. */
export function amqpNames(prefix: string): AmqpNames {
  return {
    prefix,
    tasks: `${prefix}.tasks`,
    dead: `${prefix}.dead`,
    broadcast: `${prefix}.broadcast`,
    taskQueue: (queue) => `${prefix}.task.${queue}`,
    deadQueue: (queue) => `${prefix}.dead.${queue}`,
    delayBucket: (ms) => `${prefix}.delay.${ms}`,
    inbox: (id) => `${prefix}.inbox.${id}`,
  };
}

/**
 * The delay bucket for a task due in `remainingMs`: the largest power of two not above it
 * (capped at 2^31), so that a task never comes out of a bucket after its time; 0 when the
 * task is due (less than 1 ms left).
 */
export function delayBucketFor(remainingMs: number): number {
  if (!(remainingMs >= 1)) return 0;
  const exponent = Math.min(maxBucketExponent, Math.floor(Math.log2(remainingMs)));
  return 2 ** exponent;
}

/** A priority as the broker stores it: an integer 0..9. */
export function clampPriority(priority: number): number {
  if (!Number.isFinite(priority)) return 0;
  return Math.min(maxPriority, Math.max(0, Math.floor(priority)));
}

/** An integer header as sent by any client: an AMQP integer, a bigint, or a decimal string. */
export function integerHeader(value: unknown): number {
  if (typeof value === "number") return Number.isFinite(value) ? Math.floor(value) : 0;
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "string" || Buffer.isBuffer(value)) {
    const parsed = Number(value.toString());
    return Number.isFinite(parsed) ? Math.floor(parsed) : 0;
  }
  // amqplib decodes some typed values as { "!": type, value }.
  if (typeof value === "object" && value !== null && "value" in value) return integerHeader(value.value);
  return 0;
}
