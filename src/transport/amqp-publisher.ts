import type { ConfirmChannel, Options } from "amqplib";
import type { ChannelSlot } from "./amqp-connection.js";

/**
 * Publishes with publisher confirms on one confirm channel, pipelined: each publish is
 * written at once and resolves on its own `basic.ack`, never waiting for earlier ones.
 * A `basic.nack`, or the channel closing before the confirm (amqplib fails every
 * unconfirmed callback then), rejects: the broker may or may not have the message, so it
 * is not published again here. A publish that could not even be written (the channel had
 * just closed) is written once more on a new channel, as it certainly did not reach the
 * broker.
 */
export class AmqpPublisher {
  constructor(private readonly slot: ChannelSlot<ConfirmChannel>) {}

  publish(exchange: string, routingKey: string, content: Buffer, options: Options.Publish): Promise<void> {
    const channel = this.slot.current;
    if (channel !== undefined) {
      return this.send(channel, exchange, routingKey, content, options).catch((error: unknown) => {
        if (!(error instanceof Unwritten)) throw error;
        return this.slot.get().then((again) => this.send(again, exchange, routingKey, content, options));
      });
    }
    return this.slot.get().then((opened) => this.send(opened, exchange, routingKey, content, options));
  }

  private send(
    channel: ConfirmChannel,
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      try {
        // The return value only says the socket buffer is full; amqplib buffers anyway.
        channel.publish(exchange, routingKey, content, options, (error: unknown) => {
          if (error === null || error === undefined) resolve();
          else reject(error instanceof Error ? error : new Error(`the broker refused a publish: ${String(error)}`));
        });
      } catch (error) {
        reject(new Unwritten(error));
      }
    });
  }
}

/** A publish that amqplib refused to write (closed channel): it never reached the broker. */
class Unwritten extends Error {
  constructor(cause: unknown) {
    super("the publish was not written: the channel is closed", { cause });
  }
}
