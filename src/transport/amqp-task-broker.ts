import type { ConsumeMessage, Options } from "amqplib";
import { type AmqpConnection, closedError } from "./amqp-connection.js";
import { AmqpConsumer } from "./amqp-consumer.js";
import { clampPriority, delayBucketFor, headers, integerHeader } from "./amqp-names.js";
import type { AmqpPublisher } from "./amqp-publisher.js";
import type { AmqpTopology } from "./amqp-topology.js";
import { asBuffer } from "./redis-bytes.js";
import type { ConsumeOptions, Consumer, OutgoingTask, TaskBroker } from "./transport.js";

/** Settings of the RabbitMQ task broker, resolved by `createAmqpTransport`. */
export interface AmqpTaskBrokerSettings {
  readonly connection: AmqpConnection;
  readonly topology: AmqpTopology;
  /** Confirmed publishes of tasks and dead letters. */
  readonly publisher: AmqpPublisher;
}

/** What a task message carries besides its body (docs/WIRE.md, RabbitMQ mapping: task messages). */
export interface TaskProperties {
  readonly priority: number;
  readonly messageId: string;
  /** `not_before_ms`, 0 for none. */
  readonly notBeforeMs: number;
  /** Deliveries before this message: the `dingo-deliveries` header. */
  readonly deliveries: number;
  /** Headers of other publishers, kept across hops (never RabbitMQ's `x-` ones). */
  readonly extraHeaders?: Readonly<Record<string, unknown>> | undefined;
}

const contentType = "application/x-protobuf";
const taskType = "dingo.v1.Task";

/**
 * Task broker on RabbitMQ: a durable priority queue per wire queue behind a direct
 * exchange, delays in fixed power-of-two TTL buckets, dead letters in a queue per wire
 * queue, every publish confirmed (docs/WIRE.md, RabbitMQ mapping).
 */
export class AmqpTaskBroker implements TaskBroker {
  private readonly consumers = new Set<AmqpConsumer>();
  private closed = false;

  constructor(readonly settings: AmqpTaskBrokerSettings) {}

  /** The declarations made so far (tests delete them afterwards). */
  get topology(): AmqpTopology {
    return this.settings.topology;
  }

  publish(task: OutgoingTask): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    return this.sendTask(task.queue, asBuffer(task.body), {
      priority: clampPriority(task.priority),
      messageId: task.id,
      notBeforeMs: task.notBeforeMs,
      deliveries: 0,
    });
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    if (this.closed) throw closedError();
    const consumer = new AmqpConsumer(this, options, (retired) => this.consumers.delete(retired));
    this.consumers.add(consumer);
    try {
      await consumer.start();
    } catch (error) {
      await consumer.stop({ abandon: true });
      throw error;
    }
    return { stop: () => consumer.stop() };
  }

  /**
   * Publishes a task message to `queue` (declaring it first if needed): to the task
   * exchange if due, else to the delay bucket of what remains.
   */
  sendTask(queue: string, body: Buffer, properties: TaskProperties): Promise<void> {
    const { topology, publisher } = this.settings;
    const names = topology.names;
    const notBeforeMs = properties.notBeforeMs;
    const bucket = notBeforeMs > 0 ? delayBucketFor(notBeforeMs - Date.now()) : 0;
    const exchange = bucket > 0 ? names.delayBucket(bucket) : names.tasks;
    const options = publishOptions(properties);
    if (topology.hasTaskQueue(queue) && (bucket === 0 || topology.hasDelayBucket(bucket))) {
      return publisher.publish(exchange, queue, body, options);
    }
    const declared =
      bucket === 0 ? topology.taskQueue(queue) : Promise.all([topology.taskQueue(queue), topology.delayBucket(bucket)]);
    return declared.then(() => publisher.publish(exchange, queue, body, options));
  }

  /** Publishes a dead letter of `queue` with its reason. */
  bury(queue: string, message: ConsumeMessage, reason: string, deliveries: number): Promise<void> {
    const { topology, publisher } = this.settings;
    const names = topology.names;
    const options: Options.Publish = {
      persistent: true,
      messageId: message.properties.messageId,
      // Kept for a requeue (the dead-letter queue itself has no priorities).
      priority: message.properties.priority,
      contentType,
      type: taskType,
      headers: {
        [headers.reason]: reason,
        [headers.deadAt]: Date.now(),
        [headers.queue]: queue,
        [headers.deliveries]: deliveries,
      },
    };
    return topology.deadQueue(queue).then(() => publisher.publish(names.dead, queue, message.content, options));
  }

  /** Stops every consumer; their unsettled deliveries go back to the broker with their channels. */
  async close(): Promise<void> {
    this.closed = true;
    const results = await Promise.allSettled([...this.consumers].map((consumer) => consumer.stop({ abandon: true })));
    for (const result of results) if (result.status === "rejected") throw result.reason;
  }
}

/** The properties a delivered message carries on to its next publish. */
export function carriedProperties(message: ConsumeMessage): TaskProperties {
  const properties = message.properties;
  const all = properties.headers;
  let notBeforeMs = 0;
  let deliveries = 0;
  let extraHeaders: Record<string, unknown> | undefined;
  if (all !== undefined && all !== null) {
    for (const [name, value] of Object.entries(all)) {
      if (name === headers.notBefore) notBeforeMs = integerHeader(value);
      else if (name === headers.deliveries) deliveries = integerHeader(value);
      else if (!name.startsWith("x-")) {
        extraHeaders ??= {};
        extraHeaders[name] = value;
      }
    }
  }
  return {
    priority: clampPriority(properties.priority ?? 0),
    messageId: typeof properties.messageId === "string" ? properties.messageId : "",
    notBeforeMs,
    deliveries,
    extraHeaders,
  };
}

function publishOptions(properties: TaskProperties): Options.Publish {
  const options: Options.Publish = {
    persistent: true,
    priority: properties.priority,
    contentType,
    type: taskType,
  };
  if (properties.messageId !== "") options.messageId = properties.messageId;
  if (properties.notBeforeMs > 0 || properties.deliveries > 0 || properties.extraHeaders !== undefined) {
    const carried: Record<string, unknown> = { ...properties.extraHeaders };
    if (properties.notBeforeMs > 0) carried[headers.notBefore] = properties.notBeforeMs;
    if (properties.deliveries > 0) carried[headers.deliveries] = properties.deliveries;
    options.headers = carried;
  }
  return options;
}
