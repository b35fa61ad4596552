import { randomUUID } from "node:crypto";
import type { Channel, ConfirmChannel, ConsumeMessage, Options } from "amqplib";
import { type AmqpConnection, type ChannelSlot, closedError } from "./amqp-connection.js";
import type { AmqpPublisher } from "./amqp-publisher.js";
import type { AmqpTopology } from "./amqp-topology.js";
import { asBuffer, asBytes } from "./redis-bytes.js";
import type { Inbox, InboxOptions, ReportRouter, Subscription } from "./transport.js";

/** Settings of the RabbitMQ report router, resolved by `createAmqpTransport`. */
export interface AmqpReportRouterSettings {
  readonly connection: AmqpConnection;
  readonly topology: AmqpTopology;
  /** Channel that sends reports (confirmed, through `publisher`) and broadcasts (not confirmed). */
  readonly channel: ChannelSlot<ConfirmChannel>;
  /**
   * Confirmed publishes of reports. A worker acks a task only after its report is sent,
   * and "sent" must mean "the broker has it": amqplib buffers each channel's frames apart
   * and interleaves them, so an unconfirmed report could still be in this process when
   * the ack of the task (on the consumer's channel) reaches the broker — a worker killed
   * then would have lost the report of a recorded, acknowledged task. Seen in the
   * kill -9 fault test under load.
   */
  readonly publisher: AmqpPublisher;
  /** `x-expires` of inbox queues: how long an inbox outlives its caller, ms. */
  readonly inboxTtlMs: number;
}

/** Most unacknowledged reports an inbox holds. */
const inboxPrefetch = 512;
/** Longest wait between attempts to resume after a failure. */
const maxBackoffMs = 2000;

const reportOptions: Options.Publish = { persistent: false, type: "dingo.v1.Report" };

/**
 * Reports on RabbitMQ: each caller's inbox is a queue of its own reached through the
 * default exchange, which outlives a brief disconnection (`x-expires`); cancellations go
 * through a fanout exchange to a server-named queue per worker process (docs/WIRE.md,
 * RabbitMQ mapping).
 */
export class AmqpReportRouter implements ReportRouter {
  private readonly inboxes = new Set<AmqpQueueReader>();
  private readonly subscribers = new Set<InboxOptions>();
  private subscription: AmqpQueueReader | undefined;
  private closed = false;

  constructor(private readonly settings: AmqpReportRouterSettings) {}

  async openInbox(options: InboxOptions): Promise<Inbox> {
    if (this.closed) throw closedError();
    const address = this.settings.topology.names.inbox(randomUUID());
    const reader = new AmqpQueueReader(
      this.settings.connection,
      {
        declare: async (channel) => {
          await channel.assertQueue(address, { durable: true, arguments: { "x-expires": this.settings.inboxTtlMs } });
          return address;
        },
        acknowledged: true,
        onReport: options.onReport,
        onError: options.onError,
        onGap: options.onGap,
      },
      (closed) => this.inboxes.delete(closed),
    );
    this.inboxes.add(reader);
    try {
      await reader.open();
    } catch (error) {
      await reader.close({ deleteQueue: true });
      throw error;
    }
    return { address, close: () => reader.close({ deleteQueue: true }) };
  }

  send(address: string, report: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    return this.settings.publisher.publish("", address, asBuffer(report), reportOptions);
  }

  async broadcast(report: Uint8Array): Promise<void> {
    if (this.closed) throw closedError();
    await this.settings.topology.broadcast();
    await this.publish(this.settings.topology.names.broadcast, "", asBuffer(report));
  }

  async subscribe(options: InboxOptions): Promise<Subscription> {
    if (this.closed) throw closedError();
    // A wrapper per subscription, so that subscribing the same options twice is two subscriptions.
    const subscriber: InboxOptions = { onReport: options.onReport, onError: options.onError, onLink: options.onLink };
    this.subscribers.add(subscriber);
    try {
      await this.subscribed();
    } catch (error) {
      this.subscribers.delete(subscriber);
      throw error;
    }
    return {
      close: async () => {
        this.subscribers.delete(subscriber);
      },
    };
  }

  /** Closes every inbox and the broadcast subscription. */
  async close(): Promise<void> {
    this.closed = true;
    this.subscribers.clear();
    const steps = [...this.inboxes].map((inbox) => inbox.close({ deleteQueue: true }));
    if (this.subscription !== undefined) steps.push(this.subscription.close({ deleteQueue: false }));
    const results = await Promise.allSettled(steps);
    for (const result of results) if (result.status === "rejected") throw result.reason;
  }

  /** Writes a transient message on the reports channel; a report has no confirm. */
  private publish(exchange: string, routingKey: string, content: Buffer): Promise<void> {
    const write = (channel: Channel): void => {
      channel.publish(exchange, routingKey, content, reportOptions);
    };
    const channel = this.settings.channel.current;
    if (channel !== undefined) {
      try {
        write(channel);
        return done;
      } catch {
        // The channel had just closed: the report was not written; write it on a new one.
      }
    }
    return this.settings.channel.get().then(write);
  }

  /** The queue receiving broadcasts, consumed once for all subscriptions of this transport. */
  private async subscribed(): Promise<void> {
    if (this.subscription === undefined) {
      const { topology } = this.settings;
      const subscription = new AmqpQueueReader(
        this.settings.connection,
        {
          declare: async (channel) => {
            await topology.broadcast();
            const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true });
            await channel.bindQueue(queue, topology.names.broadcast, "");
            return queue;
          },
          // Broadcasts may be lost (the CANCELLED record is what counts): no acks.
          acknowledged: false,
          onReport: (report) => {
            for (const subscriber of this.subscribers) {
              try {
                subscriber.onReport(report);
              } catch (error) {
                subscriber.onError(error);
              }
            }
          },
          onError: (error) => {
            for (const subscriber of this.subscribers) subscriber.onError(error);
          },
          // The queue is exclusive to its channel's connection and deleted with its
          // consumer: broadcasts sent while no channel reads it are lost.
          onLink: (up) => {
            for (const subscriber of this.subscribers) {
              try {
                subscriber.onLink?.(up);
              } catch (error) {
                subscriber.onError(error);
              }
            }
          },
        },
        () => {
          this.subscription = undefined;
        },
      );
      this.subscription = subscription;
      try {
        await subscription.open();
      } catch (error) {
        this.subscription = undefined;
        await subscription.close({ deleteQueue: false });
        throw error;
      }
      return;
    }
    await this.subscription.opened;
  }
}

/** What an {@link AmqpQueueReader} reads and where its reports go. */
interface QueueReaderOptions extends InboxOptions {
  /** Declares (and binds) the queue on `channel`; returns its name. Run again on every new channel. */
  readonly declare: (channel: Channel) => Promise<string>;
  /** Manual acks (an inbox: reports survive a lost channel) or none (broadcasts). */
  readonly acknowledged: boolean;
}

/** Options of {@link AmqpQueueReader.close}. */
interface QueueReaderCloseOptions {
  readonly deleteQueue: boolean;
}

/**
 * Consumes one queue on a channel of its own and hands each message to `onReport`, and
 * consumes it again on a new channel when the channel closes, backing off while that fails.
 * Acks (when asked for) are batched: one `multiple` ack per turn of the event loop.
 */
class AmqpQueueReader {
  /** Resolves once the first channel consumes. */
  opened: Promise<void> = done;
  private channel: Channel | undefined;
  private queue = "";
  private closing: Promise<void> | undefined;
  private closed = false;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private lastUnacked: ConsumeMessage | undefined;
  private ackScheduled = false;

  constructor(
    private readonly connection: AmqpConnection,
    private readonly options: QueueReaderOptions,
    private readonly onClosed: (reader: AmqpQueueReader) => void,
  ) {}

  open(): Promise<void> {
    this.opened = this.consume();
    return this.opened;
  }

  close(options: QueueReaderCloseOptions): Promise<void> {
    this.closing ??= this.shutdown(options);
    return this.closing;
  }

  private async consume(): Promise<void> {
    const channel = await this.connection.openChannel((error) => this.report(error));
    channel.on("close", () => {
      if (this.channel !== channel) return;
      this.channel = undefined;
      this.lastUnacked = undefined;
      if (this.closed) return;
      this.options.onLink?.(false);
      this.report(new Error(`the channel reading ${this.queue} closed; reading again on a new one`));
      this.scheduleRestart();
    });
    try {
      this.queue = await this.options.declare(channel);
      if (this.options.acknowledged) await channel.prefetch(inboxPrefetch);
      await channel.consume(
        this.queue,
        (message) => {
          if (message === null) {
            // Cancelled by the broker (the queue was deleted, by us when closing, or by
            // someone else): unless closing, start over on a new channel.
            if (!this.closed) channel.close().catch(ignore);
            return;
          }
          this.deliver(channel, message);
        },
        { noAck: !this.options.acknowledged },
      );
      if (this.closed) throw closedError();
    } catch (error) {
      await channel.close().catch(ignore);
      throw error;
    }
    this.channel = channel;
  }

  private deliver(channel: Channel, message: ConsumeMessage): void {
    try {
      this.options.onReport(asBytes(message.content));
    } catch (error) {
      this.report(error);
    }
    if (!this.options.acknowledged) return;
    this.lastUnacked = message;
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      const last = this.lastUnacked;
      this.lastUnacked = undefined;
      if (last === undefined || this.channel !== channel) return;
      try {
        channel.ack(last, true);
      } catch {
        // Closed meanwhile: the reports not acked are delivered again on the new channel.
      }
    });
  }

  private scheduleRestart(): void {
    const delay = this.failures === 0 ? 0 : Math.min(maxBackoffMs, 50 * 2 ** (this.failures - 1));
    this.restartTimer = setTimeout(() => {
      if (this.closed) return;
      this.consume().then(
        () => {
          this.failures = 0;
          // Reading again after the channel closed. Reports are transient: if RabbitMQ
          // restarted meanwhile, those waiting in the queue (or sent just before) are gone.
          // Tell the owner, which recovers the final outcomes from the result store
          // (InboxOptions.onGap). After a mere connection loss nothing was lost (unacked
          // reports are delivered again) and the recovery finds only what it gets anyway.
          if (this.closed) return;
          this.options.onGap?.();
          this.options.onLink?.(true);
        },
        (error: unknown) => {
          if (this.closed) return;
          this.failures++;
          this.report(error);
          this.scheduleRestart();
        },
      );
    }, delay);
  }

  private async shutdown(options: QueueReaderCloseOptions): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    this.onClosed(this);
    await this.opened.catch(ignore);
    const channel = this.channel;
    this.channel = undefined;
    if (channel === undefined) return;
    try {
      // Deleting the queue also ends its consumer; reports still in it are dropped, as
      // nobody waits for them now.
      if (options.deleteQueue && this.queue !== "") await channel.deleteQueue(this.queue);
    } catch (error) {
      this.report(error);
    } finally {
      await channel.close().catch(ignore);
    }
  }

  private report(error: unknown): void {
    try {
      this.options.onError(error);
    } catch {
      // The listener's own failure must not stop the reader.
    }
  }
}

const done: Promise<void> = Promise.resolve();

function ignore(): void {}
