/**
 * Baseline of the RabbitMQ benchmark: request/reply on plain amqplib, as a competent
 * hand-written RPC would do it with the same durability as dingo's tasks. No retries, no
 * result store, no envelope: what dingo is compared with is the cost of moving the same
 * request and response through the same broker with the same guarantees on the request.
 *
 * - Requests: persistent (`deliveryMode` 2) messages into one durable classic queue,
 *   through the default exchange, on a confirm channel. Publishes are pipelined: each is
 *   written at once with its own confirm callback, never waiting for an earlier confirm. A
 *   call resolves on its reply (as dingo's `result` does; the confirm may come after it), and
 *   fails if the broker nacks the request. Properties: `correlationId` (a counter) and
 *   `replyTo`.
 * - The worker consumes the queue with `prefetch` = its concurrency and manual acks,
 *   decodes the `AddRequest`, encodes the `AddResponse` and publishes it (transient, no
 *   confirm: dingo's reports are not confirmed either) to the default exchange with routing
 *   key = the request's `replyTo`, then acks. With `batchAcks` the acks of the deliveries
 *   of one socket read go out as one `basic.ack multiple` after them (the handler is
 *   synchronous, so every earlier delivery is settled by then).
 * - Replies: with `replies: "queue"`, a server-named exclusive auto-delete queue per
 *   caller, consumed with `noAck` (the classic RPC pattern); with `replies: "direct"`,
 *   RabbitMQ's direct reply-to (`amq.rabbitmq.reply-to`, consumed with `noAck` on the
 *   publishing channel, as it requires), which skips the reply queue altogether.
 *
 * Caller and worker each have a connection of their own (`noDelay`, as dingo's), as
 * when they run in different processes.
 *
 * `coalesceWrites` is not something an amqplib user would do: amqplib's muxer writes each
 * frame (a publish, an ack) to the socket with a write of its own, one system call each;
 * corking the socket around the muxer's pass sends what one tick produced in one
 * `writev`. The benchmark measures it as a ceiling (`amqp.raw_coalesced`), as the Redis one
 * measures per-tick batching.
 */
import { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, connect } from "amqplib";
import { AddRequest, AddResponse } from "../generated/example/v1/math_pb.js";

/** Where replies come back to the caller. */
export type RawReplies = "queue" | "direct";

const directReplyTo = "amq.rabbitmq.reply-to";

/** Opens a connection with Nagle's algorithm off, named for `rabbitmqctl list_connections`. */
export async function openRawConnection(url: string, name: string, coalesce = false): Promise<ChannelModel> {
  const connection = await connect(url, { noDelay: true, clientProperties: { connection_name: name } });
  connection.on("error", ignore);
  if (coalesce) coalesceWrites(connection);
  return connection;
}

/** amqplib's private muxer (`lib/mux.js`), which copies frames from channels to the socket. */
interface Muxer {
  _readIncoming(): void;
  readonly out: { cork(): void; uncork(): void };
}

/**
 * Makes the frames amqplib writes in one pass of its muxer (every frame the channels
 * produced since the last pass, it runs on `setImmediate`) go out in one `writev` rather
 * than one socket write each, by corking the socket around the pass. Relies on amqplib's
 * internals (checked: 2.3.1); fails loudly if they changed.
 */
export function coalesceWrites(model: ChannelModel): void {
  const muxer = (model as unknown as { connection?: { muxer?: Muxer } }).connection?.muxer;
  if (typeof muxer?._readIncoming !== "function" || typeof muxer.out?.cork !== "function") {
    throw new Error("amqplib's muxer is not what coalesceWrites expects (amqplib changed?)");
  }
  const pass = muxer._readIncoming.bind(muxer);
  muxer._readIncoming = () => {
    muxer.out.cork();
    try {
      pass();
    } finally {
      muxer.out.uncork();
    }
  };
}

/** The caller: one connection, one confirm channel for requests (and direct replies), replies by correlation id. */
export class RawAmqpCaller {
  private readonly pending = new Map<string, { resolve: (sum: number) => void; reject: (error: unknown) => void }>();
  private nextId = 0;
  /** Publishes not confirmed yet, and who waits for them to be. */
  private unconfirmed = 0;
  private confirmedWaiters: (() => void)[] = [];
  private replyQueue = "";

  private constructor(
    /** Its connection (the benchmark counts the frames on it). */
    readonly connection: ChannelModel,
    private readonly channel: ConfirmChannel,
    private readonly queue: string,
  ) {}

  /** Opens a caller of `queue` (declaring it, durable); replies as `replies` says. */
  static async open(
    url: string,
    name: string,
    queue: string,
    replies: RawReplies,
    coalesce = false,
  ): Promise<RawAmqpCaller> {
    const connection = await openRawConnection(url, `${name}:caller`, coalesce);
    const channel = await connection.createConfirmChannel();
    channel.on("error", ignore);
    await channel.assertQueue(queue, { durable: true });
    const caller = new RawAmqpCaller(connection, channel, queue);
    await caller.consumeReplies(replies);
    return caller;
  }

  /** Sends `a + b` to the worker; resolves with its sum. */
  add(a: number, b: number): Promise<number> {
    const id = (this.nextId++).toString(36);
    const payload = AddRequest.encode({ a, b }).finish();
    const reply = new Promise<number>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.unconfirmed++;
    this.channel.publish(
      "",
      this.queue,
      Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
      { persistent: true, correlationId: id, replyTo: this.replyQueue },
      (error: unknown) => {
        if (error !== null && error !== undefined) {
          const call = this.pending.get(id);
          this.pending.delete(id);
          call?.reject(error instanceof Error ? error : new Error("the broker nacked a request"));
        }
        if (--this.unconfirmed === 0) {
          const waiting = this.confirmedWaiters;
          this.confirmedWaiters = [];
          for (const resolve of waiting) resolve();
        }
      },
    );
    return reply;
  }

  /** Resolves once every request published so far is confirmed. */
  confirmed(): Promise<void> {
    if (this.unconfirmed === 0) return Promise.resolve();
    return new Promise((resolve) => this.confirmedWaiters.push(resolve));
  }

  async close(): Promise<void> {
    for (const call of this.pending.values()) call.reject(new Error("closed"));
    this.pending.clear();
    await this.connection.close().catch(ignore);
  }

  private async consumeReplies(replies: RawReplies): Promise<void> {
    const onReply = (message: ConsumeMessage | null): void => {
      if (message === null) return;
      const id = message.properties.correlationId as string;
      const call = this.pending.get(id);
      if (call === undefined) return;
      this.pending.delete(id);
      call.resolve(AddResponse.decode(message.content).sum);
    };
    if (replies === "direct") {
      // Direct reply-to: consumed (noAck) on the channel that publishes the requests.
      await this.channel.consume(directReplyTo, onReply, { noAck: true });
      this.replyQueue = directReplyTo;
      return;
    }
    const channel = await this.connection.createChannel();
    channel.on("error", ignore);
    const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true });
    await channel.consume(queue, onReply, { noAck: true });
    this.replyQueue = queue;
  }
}

/** The worker: one connection, one channel consuming requests (prefetch, manual acks) and publishing replies. */
export class RawAmqpWorker {
  private channel: Channel | undefined;
  private consumerTag: string | undefined;
  private lastUnacked: ConsumeMessage | undefined;
  private ackScheduled = false;
  /** Requests handled so far. */
  handled = 0;

  private constructor(
    /** Its connection (the benchmark counts the frames on it). */
    readonly connection: ChannelModel,
    private readonly queue: string,
    private readonly prefetch: number,
    private readonly batchAcks: boolean,
  ) {}

  static async open(
    url: string,
    name: string,
    queue: string,
    prefetch: number,
    batchAcks: boolean,
    coalesce = false,
  ): Promise<RawAmqpWorker> {
    const connection = await openRawConnection(url, `${name}:worker`, coalesce);
    return new RawAmqpWorker(connection, queue, prefetch, batchAcks);
  }

  /** Starts consuming (declaring the queue). */
  async start(): Promise<void> {
    if (this.channel !== undefined) return;
    const channel = await this.connection.createChannel();
    channel.on("error", ignore);
    this.channel = channel;
    await channel.assertQueue(this.queue, { durable: true });
    await channel.prefetch(this.prefetch);
    const { consumerTag } = await channel.consume(this.queue, (message) => this.handle(channel, message), {
      noAck: false,
    });
    this.consumerTag = consumerTag;
  }

  async close(): Promise<void> {
    const channel = this.channel;
    if (channel !== undefined && this.consumerTag !== undefined) await channel.cancel(this.consumerTag).catch(ignore);
    await this.connection.close().catch(ignore);
  }

  private handle(channel: Channel, message: ConsumeMessage | null): void {
    if (message === null) return;
    const { a, b } = AddRequest.decode(message.content);
    const response = AddResponse.encode({ sum: a + b }).finish();
    channel.publish(
      "",
      message.properties.replyTo as string,
      Buffer.from(response.buffer, response.byteOffset, response.byteLength),
      { correlationId: message.properties.correlationId as string },
    );
    this.handled++;
    if (!this.batchAcks) {
      channel.ack(message);
      return;
    }
    // One `multiple` ack after the deliveries of this socket read (all handled by then).
    this.lastUnacked = message;
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    queueMicrotask(() => {
      this.ackScheduled = false;
      const last = this.lastUnacked;
      this.lastUnacked = undefined;
      if (last !== undefined) channel.ack(last, true);
    });
  }
}

function ignore(): void {}
