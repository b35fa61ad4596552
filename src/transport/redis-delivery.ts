import { asBuffer } from "./redis-bytes.js";
import type { RedisConsumer, RedisStream } from "./redis-consumer.js";
import { clampPriority, consumerGroup } from "./redis-queue-keys.js";
import { runScript, type ScriptArgument } from "./redis-scripts.js";
import type { RedisTaskBroker } from "./redis-task-broker.js";
import type { Delivery, OutgoingTask } from "./transport.js";

/**
 * One delivery of a stream entry. Every settlement is one script that removes the entry
 * from the group's pending list and the stream in the same step as what follows it (a
 * retry queued, a dead letter written), so that a crash between the two cannot lose the
 * task. A settlement that fails leaves the entry pending: it is reclaimed after the lease.
 */
export class RedisDelivery implements Delivery {
  readonly queue: string;
  private done = false;

  constructor(
    private readonly broker: RedisTaskBroker,
    private readonly consumer: RedisConsumer,
    readonly stream: RedisStream,
    readonly id: string,
    readonly body: Uint8Array,
    readonly deliveryCount: number,
  ) {
    this.queue = stream.keys.queue;
  }

  ack(): Promise<void> {
    if (this.done) return Promise.reject(this.settledTwice());
    return this.settled(this.broker.acks.add(this.stream.key, this.id));
  }

  retry(next: OutgoingTask): Promise<void> {
    if (next.queue !== this.queue) {
      // Another queue is another hash slot: publish first, then ack. A crash in between
      // runs the task twice rather than never.
      if (this.done) return Promise.reject(this.settledTwice());
      return this.settled(this.broker.publish(next).then(() => this.broker.acks.add(this.stream.key, this.id)));
    }
    const priority = clampPriority(next.priority);
    const keys = this.stream.keys;
    const now = Date.now();
    const settled = this.requeue(
      keys.ready[priority] as string,
      next.body,
      next.notBeforeMs,
      now,
      this.broker.delayedMemberPrefix(priority),
      0,
    );
    if (next.notBeforeMs > now) this.broker.delayedAt(this.queue, next.notBeforeMs);
    return settled;
  }

  deadLetter(reason: string): Promise<void> {
    const settings = this.broker.settings;
    return this.settle("dingoBury", [
      this.stream.key,
      this.stream.keys.dead,
      consumerGroup,
      this.id,
      asBuffer(this.body),
      reason,
      Date.now(),
      settings.maxDeadLetters,
      settings.deadLetterTtlMs,
      this.deliveryCount,
      this.stream.priority,
    ]);
  }

  release(): Promise<void> {
    // At the tail of its own stream, with its count so far: delivered again at once, and
    // the delivery limit still sees every delivery.
    return this.requeue(this.stream.key, this.body, 0, 0, "", this.deliveryCount);
  }

  private requeue(
    target: string,
    body: Uint8Array,
    notBeforeMs: number,
    nowMs: number,
    memberPrefix: string,
    deliveries: number,
  ): Promise<void> {
    return this.settle("dingoRequeue", [
      this.stream.key,
      this.stream.keys.delayed,
      target,
      consumerGroup,
      this.id,
      asBuffer(body),
      notBeforeMs,
      nowMs,
      memberPrefix,
      deliveries,
    ]);
  }

  /** Runs a settlement script once. */
  private settle(script: "dingoRequeue" | "dingoBury", args: ScriptArgument[]): Promise<void> {
    if (this.done) return Promise.reject(this.settledTwice());
    return this.settled(runScript(this.broker.settings.redis, script, args));
  }

  /** Marks the delivery settled; tells the consumer once `settling` is over. */
  private settled(settling: Promise<unknown>): Promise<void> {
    this.done = true;
    return settling.then(
      () => this.consumer.settled(this),
      (error: unknown) => {
        this.consumer.settled(this);
        throw error;
      },
    );
  }

  private settledTwice(): Error {
    return new Error(`a delivery of a task from ${this.queue} was settled twice`);
  }
}
