import type { Channel } from "amqplib";
import type { ChannelSlot } from "./amqp-connection.js";
import { type AmqpNames, taskQueueArguments } from "./amqp-names.js";

/** Settings of {@link AmqpTopology}, resolved by `createAmqpTransport`. */
export interface AmqpTopologySettings {
  readonly names: AmqpNames;
  /** `x-max-length` of dead-letter queues. */
  readonly maxDeadLetters: number;
  /** `x-message-ttl` of dead-letter queues, ms. */
  readonly deadLetterTtlMs: number;
}

/**
 * Declares the exchanges, queues and bindings of the RabbitMQ mapping (docs/WIRE.md), each
 * once per transport: a declaration costs a round trip, and publishers must have declared
 * a task queue before their first publish to it (a message routed nowhere is dropped).
 * Declarations run on a channel of their own, since a refused one (`PRECONDITION_FAILED`:
 * declared elsewhere with other arguments) closes its channel; a failed one is tried again
 * on next use. The names declared are kept, so that tests can delete what they made.
 */
export class AmqpTopology {
  /** Queues and exchanges declared through this object. */
  readonly declaredQueues = new Set<string>();
  readonly declaredExchanges = new Set<string>();
  /** Declarations done: checked synchronously on the publish path. */
  private readonly done = new Set<string>();
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly settings: AmqpTopologySettings,
    private readonly slot: ChannelSlot<Channel>,
  ) {}

  get names(): AmqpNames {
    return this.settings.names;
  }

  /** Whether `taskQueue(queue)` has completed. */
  hasTaskQueue(queue: string): boolean {
    return this.done.has(`task:${queue}`);
  }

  /** Whether `delayBucket(ms)` has completed. */
  hasDelayBucket(ms: number): boolean {
    return this.done.has(`delay:${ms}`);
  }

  /** The exchange of ready tasks and the queue of `queue`, bound. `again`: even if done before. */
  taskQueue(queue: string, again = false): Promise<void> {
    const names = this.names;
    return this.declare(`task:${queue}`, again, async (channel) => {
      await this.exchange(channel, names.tasks, "direct");
      await this.queue(channel, names.taskQueue(queue), { durable: true, arguments: taskQueueArguments });
      await channel.bindQueue(names.taskQueue(queue), names.tasks, queue);
    });
  }

  /** The dead-letter exchange and the dead-letter queue of `queue`, bound. */
  deadQueue(queue: string): Promise<void> {
    const names = this.names;
    return this.declare(`dead:${queue}`, false, async (channel) => {
      await this.exchange(channel, names.dead, "direct");
      await this.queue(channel, names.deadQueue(queue), {
        durable: true,
        arguments: {
          "x-max-length": this.settings.maxDeadLetters,
          "x-message-ttl": this.settings.deadLetterTtlMs,
        },
      });
      await channel.bindQueue(names.deadQueue(queue), names.dead, queue);
    });
  }

  /** The exchange and queue of the delay bucket of `ms`, which expires into the task exchange. */
  delayBucket(ms: number): Promise<void> {
    const names = this.names;
    const name = names.delayBucket(ms);
    return this.declare(`delay:${ms}`, false, async (channel) => {
      await this.exchange(channel, names.tasks, "direct");
      await this.exchange(channel, name, "fanout");
      await this.queue(channel, name, {
        durable: true,
        // No dead-letter routing key: an expired task keeps its own, the wire queue name.
        arguments: { "x-message-ttl": ms, "x-dead-letter-exchange": names.tasks },
      });
      await channel.bindQueue(name, name, "");
    });
  }

  /** The broadcast exchange. */
  broadcast(): Promise<void> {
    return this.declare("broadcast", false, (channel) => this.exchange(channel, this.names.broadcast, "fanout"));
  }

  private declare(key: string, again: boolean, steps: (channel: Channel) => Promise<void>): Promise<void> {
    if (!again && this.done.has(key)) return done;
    let running = this.running.get(key);
    if (running === undefined) {
      running = this.slot
        .get()
        .then(steps)
        .then(
          () => {
            this.running.delete(key);
            this.done.add(key);
          },
          (error: unknown) => {
            this.running.delete(key);
            throw error;
          },
        );
      this.running.set(key, running);
    }
    return running;
  }

  private async exchange(channel: Channel, name: string, type: "direct" | "fanout"): Promise<void> {
    await channel.assertExchange(name, type, { durable: true });
    this.declaredExchanges.add(name);
  }

  private async queue(
    channel: Channel,
    name: string,
    options: { durable: boolean; arguments: Record<string, unknown> },
  ): Promise<void> {
    await channel.assertQueue(name, options);
    this.declaredQueues.add(name);
  }
}

const done: Promise<void> = Promise.resolve();
