import type { Channel, ConsumeMessage } from "amqplib";
import { AckBatcher } from "./amqp-ack-batcher.js";
import { AmqpDelivery } from "./amqp-delivery.js";
import type { AmqpTaskBroker, TaskProperties } from "./amqp-task-broker.js";
import { carriedProperties } from "./amqp-task-broker.js";
import { handOver } from "./hand-over.js";
import type { ConsumeOptions } from "./transport.js";

/** A channel of a consumer; deliveries keep theirs, to know whether they can still be acked. */
export interface ConsumerChannel {
  readonly channel: Channel;
  /** False once the channel closed: its unacked messages are back in their queues. */
  open: boolean;
  /** Consumer tags by AMQP queue name. */
  readonly tags: Map<string, string>;
  /** Acks and nacks of the channel's messages, acks batched per turn of the event loop. */
  readonly acks: AckBatcher;
}

/** Options of {@link AmqpConsumer.stop}. */
export interface AmqpConsumerStopOptions {
  /** The transport closes: close the channel now, giving unsettled deliveries back. */
  readonly abandon?: boolean;
}

/** Longest wait between attempts to resume after a failure. */
const maxBackoffMs = 2000;

/**
 * One consumer of the RabbitMQ broker: a channel of its own with `basic.qos` = prefetch
 * (global when it consumes several queues, so the window bounds them together) and a
 * manual-ack `basic.consume` per queue. Messages that are not yet due go back to a delay
 * bucket, redelivered ones are published again with their count (classic queues count
 * nothing), and the rest are handed out as deliveries. When its channel closes (broker
 * error, lost connection) it opens a new one and consumes again by itself, backing off
 * while that fails; when the broker cancels it (its queue was deleted) it declares the
 * queue again and goes on.
 */
export class AmqpConsumer {
  private current: ConsumerChannel | undefined;
  /** Deliveries handed out and hops in flight: the channel stays open until they end. */
  private readonly outstanding = new Set<AmqpDelivery>();
  private hops = 0;
  private readonly prefetch: number;
  private readonly queues: readonly string[];
  private stopping: Promise<void> | undefined;
  private stopped = false;
  private retired = false;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly broker: AmqpTaskBroker,
    private readonly options: ConsumeOptions,
    private readonly onRetired: (consumer: AmqpConsumer) => void,
  ) {
    this.prefetch = Math.max(1, Math.floor(options.prefetch));
    this.queues = [...new Set(options.queues)];
  }

  /** Opens the channel and starts consuming every queue. */
  async start(): Promise<void> {
    await this.open(false);
  }

  /**
   * Stops taking deliveries (`basic.cancel`). Outstanding deliveries stay valid; the channel
   * closes once they are settled, or at once if `abandon` is set.
   */
  stop(options: AmqpConsumerStopOptions = {}): Promise<void> {
    this.stopping ??= this.halt();
    if (options.abandon === true) return this.stopping.then(() => this.retire());
    return this.stopping;
  }

  /** A delivery is settled (or failed to settle): the channel may close if the consumer stopped. */
  settled(delivery: AmqpDelivery): void {
    this.outstanding.delete(delivery);
    this.retireIfIdle();
  }

  /** Reports an error the consumer recovers from. */
  private readonly reportError = (error: unknown): void => this.report(error);

  report(error: unknown): void {
    try {
      this.options.onError(error);
    } catch {
      // The listener's own failure must not stop the consumer.
    }
  }

  private async open(again: boolean): Promise<void> {
    const { connection, topology } = this.broker.settings;
    const channel = await connection.openChannel((error) => this.report(error));
    const state: ConsumerChannel = { channel, open: true, tags: new Map(), acks: new AckBatcher(channel) };
    channel.on("close", () => {
      state.open = false;
      if (this.current === state) {
        this.current = undefined;
        this.channelLost();
      }
    });
    try {
      await channel.prefetch(this.prefetch, this.queues.length > 1);
      for (const queue of this.queues) {
        await topology.taskQueue(queue, again);
        await this.consumeQueue(state, queue);
      }
      if (!state.open) throw new Error("the consumer's channel closed while it was being set up");
      if (this.stopped) throw new Error("the consumer was stopped while it was being set up");
    } catch (error) {
      await channel.close().catch(ignore);
      throw error;
    }
    this.current = state;
  }

  private async consumeQueue(state: ConsumerChannel, queue: string): Promise<void> {
    const name = this.broker.topology.names.taskQueue(queue);
    const { consumerTag } = await state.channel.consume(name, (message) => this.receive(state, queue, message), {
      noAck: false,
    });
    state.tags.set(name, consumerTag);
  }

  private receive(state: ConsumerChannel, queue: string, message: ConsumeMessage | null): void {
    if (message === null) {
      this.cancelledByBroker(state, queue);
      return;
    }
    state.acks.received(message);
    const properties = carriedProperties(message);
    if (this.stopped) {
      // Received between basic.cancel and its cancel-ok: give it back without counting it.
      this.hop(state, queue, message, properties);
      return;
    }
    if (message.fields.redelivered) {
      // An earlier delivery was never settled: count it in a copy, which is delivered next.
      this.hop(state, queue, message, { ...properties, deliveries: properties.deliveries + 1 });
      return;
    }
    if (properties.notBeforeMs > 0 && properties.notBeforeMs - Date.now() >= 1) {
      // Out of its delay bucket early: into the next, smaller bucket.
      this.hop(state, queue, message, properties);
      return;
    }
    const delivery = new AmqpDelivery(this, state, queue, message, properties);
    this.outstanding.add(delivery);
    handOver(delivery, this.options.onDelivery, this.reportError);
  }

  /** Publishes a message again with `properties` (confirmed), then acks it. */
  private hop(state: ConsumerChannel, queue: string, message: ConsumeMessage, properties: TaskProperties): void {
    this.hops++;
    this.broker.sendTask(queue, message.content, properties).then(
      () => {
        this.hops--;
        acknowledge(state, message);
        this.retireIfIdle();
      },
      (error: unknown) => {
        this.hops--;
        this.report(error);
        // Not lost: back into its queue, and delivered again (counted then).
        requeue(state, message);
        this.retireIfIdle();
      },
    );
  }

  /** The broker cancelled the consumer of `queue` (deleted): declare it again and consume it. */
  private cancelledByBroker(state: ConsumerChannel, queue: string): void {
    this.report(new Error(`the broker cancelled the consumer of queue ${queue} (deleted?); consuming it again`));
    if (this.stopped || !state.open) return;
    this.broker.topology
      .taskQueue(queue, true)
      .then(() => {
        if (!this.stopped && state.open) return this.consumeQueue(state, queue);
      })
      .catch((error: unknown) => {
        this.report(error);
        // Start over on a new channel, with backoff.
        state.channel.close().catch(ignore);
      });
  }

  private channelLost(): void {
    if (this.stopped) {
      // Its deliveries went back to the broker with the channel.
      this.retire();
      return;
    }
    this.report(new Error("the consumer's channel closed; consuming again on a new one"));
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.stopped) return;
    const delay = this.failures === 0 ? 0 : Math.min(maxBackoffMs, 50 * 2 ** (this.failures - 1));
    this.restartTimer = setTimeout(() => {
      this.open(true).then(
        () => {
          this.failures = 0;
        },
        (error: unknown) => {
          this.failures++;
          if (this.stopped) return;
          this.report(error);
          this.scheduleRestart();
        },
      );
    }, delay);
  }

  private async halt(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    const state = this.current;
    if (state?.open === true) {
      await Promise.all([...state.tags.values()].map((tag) => state.channel.cancel(tag).catch(ignore)));
    }
    this.retireIfIdle();
  }

  private retireIfIdle(): void {
    if (this.stopped && this.outstanding.size === 0 && this.hops === 0) this.retire();
  }

  /** Closes the channel (unsettled deliveries go back to their queues) and leaves the broker. */
  private retire(): void {
    if (this.retired) return;
    this.retired = true;
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.onRetired(this);
    const state = this.current;
    this.current = undefined;
    if (state?.open === true) {
      // Acks still batched must go out before the close gives unacked messages back.
      state.acks.flush();
      state.channel.close().catch(ignore);
    }
  }
}

/**
 * Acks a message if its channel is still open (else the broker has put it back already),
 * with the channel's other acks of this turn of the event loop.
 */
export function acknowledge(state: ConsumerChannel, message: ConsumeMessage): boolean {
  if (!state.open) return false;
  state.acks.ack(message);
  return true;
}

/** Gives a message back to its queue for another delivery, if its channel is still open. */
export function requeue(state: ConsumerChannel, message: ConsumeMessage): void {
  if (!state.open) return;
  try {
    state.acks.requeue(message);
  } catch {
    // Closed meanwhile: the broker put it back itself.
  }
}

function ignore(): void {}
