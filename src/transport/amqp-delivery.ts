import type { ConsumeMessage } from "amqplib";
import { type AmqpConsumer, acknowledge, type ConsumerChannel, requeue } from "./amqp-consumer.js";
import type { TaskProperties } from "./amqp-task-broker.js";
import { asBytes } from "./redis-bytes.js";
import type { Delivery, OutgoingTask } from "./transport.js";

/**
 * One delivery of a task message. Every settlement that replaces the message (retry,
 * release, dead-letter) publishes the replacement, waits for its confirm, and only then
 * acks, so that a crash in between duplicates the task rather than loses it. If the
 * delivery's channel closed before it is settled, RabbitMQ has put the message back
 * already: the settlement does nothing (no publish, no ack) and the task is delivered again.
 */
export class AmqpDelivery implements Delivery {
  readonly body: Uint8Array;
  readonly deliveryCount: number;
  private done = false;

  constructor(
    private readonly consumer: AmqpConsumer,
    private readonly state: ConsumerChannel,
    readonly queue: string,
    private readonly message: ConsumeMessage,
    private readonly properties: TaskProperties,
  ) {
    this.body = asBytes(message.content);
    this.deliveryCount = properties.deliveries + 1;
  }

  ack(): Promise<void> {
    if (this.done) return Promise.reject(this.settledTwice());
    this.done = true;
    if (!acknowledge(this.state, this.message)) this.lost();
    this.consumer.settled(this);
    return done;
  }

  retry(next: OutgoingTask): Promise<void> {
    return this.replace(() => this.consumer.broker.publish(next));
  }

  release(): Promise<void> {
    // At the tail of its priority, with its count so far: the delivery limit sees every delivery.
    return this.replace(() =>
      this.consumer.broker.sendTask(this.queue, this.message.content, {
        ...this.properties,
        deliveries: this.deliveryCount,
      }),
    );
  }

  deadLetter(reason: string): Promise<void> {
    return this.replace(() => this.consumer.broker.bury(this.queue, this.message, reason, this.deliveryCount));
  }

  private replace(publish: () => Promise<void>): Promise<void> {
    if (this.done) return Promise.reject(this.settledTwice());
    this.done = true;
    if (!this.state.open) {
      this.lost();
      this.consumer.settled(this);
      return done;
    }
    return publish().then(
      () => {
        if (!acknowledge(this.state, this.message)) this.lost();
        this.consumer.settled(this);
      },
      (error: unknown) => {
        // Nothing replaced it: deliver it again rather than hold it unacked.
        requeue(this.state, this.message);
        this.consumer.settled(this);
        throw error;
      },
    );
  }

  private lost(): void {
    this.consumer.report(
      new Error(`a delivery from ${this.queue} was settled after its channel closed; the broker delivers it again`),
    );
  }

  private settledTwice(): Error {
    return new Error(`a delivery of a task from ${this.queue} was settled twice`);
  }
}

const done: Promise<void> = Promise.resolve();
