import type { QueueAdmin } from "./queue-admin.js";

/**
 * The seam between dingo's typed runtime and a message broker.
 *
 * A transport moves opaque envelope bytes. It never decodes them and knows nothing
 * about services: the runtime hands it the few facts a broker needs (queue,
 * priority, not-before time) next to the bytes. Every implementation — memory,
 * Redis, RabbitMQ — passes the same conformance suite in `test/conformance/`.
 *
 * It has three parts because they may live in different systems (RabbitMQ for
 * tasks, Redis for reports and results): {@link TaskBroker}, {@link ReportRouter}
 * and {@link ResultStore}; and a {@link QueueAdmin} for operators.
 */
export interface Transport {
  /** Queues tasks and hands them to workers. */
  readonly tasks: TaskBroker;
  /** Carries reports to callers and control messages to workers. */
  readonly reports: ReportRouter;
  /** Keeps final outcomes for lookup by task id. */
  readonly results: ResultStore;
  /** Counts queues and manages their dead letters, for operators (not on the task path). */
  readonly admin: QueueAdmin;
  /**
   * Whether a delivery's ack issued after a report's send, before the send is confirmed,
   * can only take effect after the send, whatever fails in between (Redis: one connection,
   * whose commands the server runs in the order written). Then a worker acks a task as it
   * sends the task's final report, instead of a round trip later. Absent: false, and the
   * worker acks once the send is confirmed, so that a crash cannot leave a task acked
   * with its report lost (RabbitMQ: reports and acks go on different channels).
   */
  readonly acksFollowSends?: boolean;
  /**
   * Releases what the transport opened (never connections the user passed in).
   * Idempotent. Consumers and inboxes still open are closed.
   */
  close(): Promise<void>;
  /**
   * Opens another transport to the same broker with the same settings, on connections of
   * its own; closing it closes only those, and closing this transport closes it too. Workers consume through forks as independent
   * lanes (`WorkerOptions.lanes`): while the process handles one lane's replies, the broker
   * works on another's commands, where one connection makes them take turns. Absent where
   * a second connection gains nothing (memory).
   */
  fork?(): Transport;
}

/** A task ready to be queued: the encoded `dingo.v1.Task` and what the broker needs to route it. */
export interface OutgoingTask {
  /** Task id, for brokers that carry a message id. */
  readonly id: string;
  /** Queue to publish to. */
  readonly queue: string;
  /** Encoded `dingo.v1.Task`. */
  readonly body: Uint8Array;
  /** 0..9, higher is delivered first among waiting tasks of the queue. */
  readonly priority: number;
  /** Unix epoch ms before which the task must not be delivered; 0 for now. */
  readonly notBeforeMs: number;
}

/** Queues tasks and hands them to consumers, one explicit settlement per delivery. */
export interface TaskBroker {
  /**
   * Queues a task. Resolves once the broker has accepted it durably (this is what
   * SENT means); rejects if it could not.
   */
  publish(task: OutgoingTask): Promise<void>;
  /** Starts delivering tasks of `queues` to `onDelivery`. Resolves once consuming. */
  consume(options: ConsumeOptions): Promise<Consumer>;
}

/** Options of {@link TaskBroker.consume}. */
export interface ConsumeOptions {
  /** Queues to take tasks from. */
  readonly queues: readonly string[];
  /** At most this many deliveries are outstanding (delivered, not settled) at once. */
  readonly prefetch: number;
  /** Receives each delivery; it must eventually settle it exactly once. */
  readonly onDelivery: (delivery: Delivery) => void;
  /** Receives errors the consumer recovers from by itself (lost connection, …). */
  readonly onError: (error: unknown) => void;
}

/** A running consumer. */
export interface Consumer {
  /**
   * Stops taking new deliveries. Deliveries already handed out stay valid and must
   * still be settled. Idempotent.
   */
  stop(): Promise<void>;
}

/**
 * One delivery of a task to a consumer. Until it is settled the broker keeps the task
 * (a crashed consumer's deliveries are delivered again), so settle only after the
 * outcome is recorded. Exactly one settlement call per delivery.
 */
export interface Delivery {
  /** Queue the task came from. */
  readonly queue: string;
  /** Encoded `dingo.v1.Task` (not yet validated: may be garbage). */
  readonly body: Uint8Array;
  /** How many times this task has been delivered, this delivery included (1 the first time). */
  readonly deliveryCount: number;
  /** Done with the task: remove it. */
  ack(): Promise<void>;
  /** Replace the task by `next` (a later attempt, usually delayed) and remove this one. */
  retry(next: OutgoingTask): Promise<void>;
  /** Move the task to its queue's dead-letter store with `reason`, and remove it here. */
  deadLetter(reason: string): Promise<void>;
  /** Give the task back for another delivery now, as if this consumer had died. */
  release(): Promise<void>;
}

/** A task that could not be processed, with the reason (read through {@link QueueAdmin.deadLetters}). */
export interface DeadLetter {
  /**
   * Names this letter for {@link QueueAdmin.requeue}: the dead-letter stream entry id on
   * Redis, the message id (the task id) on RabbitMQ, a sequence number in memory.
   */
  readonly id: string;
  /** Queue the task came from. */
  readonly queue: string;
  /** The bytes as they were delivered. */
  readonly body: Uint8Array;
  /** Why it was dead-lettered. */
  readonly reason: string;
  /** When, Unix epoch ms. */
  readonly atMs: number;
  /** The delivery count of the delivery that dead-lettered it (0 if the broker did not keep it). */
  readonly deliveries: number;
}

/** Carries reports to callers' inboxes, and control messages (cancellations) to all workers. */
export interface ReportRouter {
  /** Opens an inbox for this caller; its address goes into `Task.reply_to`. */
  openInbox(options: InboxOptions): Promise<Inbox>;
  /**
   * Sends an encoded `dingo.v1.Report` to an inbox. Sending to an inbox that no longer
   * exists is not an error: nobody is waiting.
   */
  send(address: string, report: Uint8Array): Promise<void>;
  /** Sends an encoded `dingo.v1.Report` to every subscribed worker. */
  broadcast(report: Uint8Array): Promise<void>;
  /** Receives broadcasts. */
  subscribe(options: InboxOptions): Promise<Subscription>;
}

/** Options of an inbox or broadcast subscription. */
export interface InboxOptions {
  /** Receives each encoded report. */
  readonly onReport: (report: Uint8Array) => void;
  /** Receives errors the transport recovers from by itself. */
  readonly onError: (error: unknown) => void;
  /**
   * Called when reports sent to this inbox may have been lost: its connection broke and
   * came back, and a read in flight may have taken reports whose reply never arrived. The
   * owner recovers the final outcomes from the result store. Only inboxes can lose
   * reports this way; a transport whose inboxes cannot never calls it.
   */
  readonly onGap?: () => void;
  /**
   * Subscriptions only: called with `false` as soon as the link carrying broadcasts
   * breaks (broadcasts sent from then on may never arrive here) and with `true` once it
   * is back and subscribed. Workers trust their memory of cancellations only while it is
   * up. A transport whose subscriptions cannot miss a broadcast never calls it.
   */
  readonly onLink?: (up: boolean) => void;
}

/** A subscription; `close()` is idempotent. */
export interface Subscription {
  close(): Promise<void>;
}

/** A caller's inbox for reports. */
export interface Inbox extends Subscription {
  /** The address to put in `Task.reply_to`. */
  readonly address: string;
}

/**
 * Keeps the final report of each task for a while, first writer wins, and tracks which
 * tasks submitted with a caller-chosen id are pending, so that a second submission of
 * the same task attaches to the first instead of running it again. Tasks are keyed by
 * `<task name>/<task id>` (see `taskKey`), since ids are unique per task name.
 */
export interface ResultStore {
  /**
   * Claims a task key for a new submission:
   * - `claimed`: no task with this key is pending or recorded; it is pending now, for
   *   `ttlMs` at most (0: the store's default) or until settled;
   * - `pending`: a task with this key is pending already; `address` (if not empty) is
   *   added to its watchers, which receive its final report too;
   * - `settled`: the task's final report is recorded and returned.
   */
  claim(key: string, address: string, ttlMs: number): Promise<Claim>;
  /**
   * Records the final report of a task unless one is recorded already, and ends its
   * pending claim. `recorded` is false if another outcome was there first (the task was
   * cancelled, or another delivery of it finished). `watchers` are the addresses that
   * attached to the task while it was pending: the final report is owed to them too.
   * `ttlMs` 0: the store's default.
   */
  settle(key: string, report: Uint8Array, ttlMs: number): Promise<Settlement>;
  /** The recorded final report of a task, or undefined if none (or expired). */
  lookup(key: string): Promise<Uint8Array | undefined>;
  /**
   * Deletes the record of a task if it is still exactly `report`; resolves with whether it
   * did. For operators who queue a dead-lettered task again (`dingo dead requeue`): its
   * recorded FAILURE would otherwise answer the new delivery instead of running it.
   * Comparing the bytes leaves alone a record written meanwhile.
   */
  forget(key: string, report: Uint8Array): Promise<boolean>;
}

/** The answer of {@link ResultStore.claim}. */
export type Claim =
  | { readonly status: "claimed" }
  | { readonly status: "pending" }
  | { readonly status: "settled"; readonly report: Uint8Array };

/** The answer of {@link ResultStore.settle}. */
export interface Settlement {
  /** Whether this call recorded the report (first writer wins). */
  readonly recorded: boolean;
  /** Inbox addresses that attached to the task while it was pending. */
  readonly watchers: readonly string[];
}
