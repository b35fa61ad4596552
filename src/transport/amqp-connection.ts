import { type Channel, type ChannelModel, type ConfirmChannel, connect } from "amqplib";

/** Settings of {@link AmqpConnection}, resolved by `createAmqpTransport`. */
export interface AmqpConnectionSettings {
  /** Where to connect when no connection is given. */
  readonly url: string;
  /** A connection of the user's: used, never closed, never reopened. */
  readonly connection?: ChannelModel | undefined;
  /** `connection_name` client property, shown by `rabbitmqctl list_connections`. */
  readonly name: string;
  /** How long an operation waits for a connection before it fails, ms. */
  readonly connectTimeoutMs: number;
}

/** Shortest and longest waits between connection attempts, ms. */
const minBackoffMs = 50;
const maxBackoffMs = 2000;

/**
 * The transport's connection, reopened after loss. Lazy: nothing connects until an
 * operation needs a channel, and a lost connection is reopened when the next one does
 * (consumers and inboxes ask again as soon as their channel closes, so they bring it back
 * at once). Attempts back off exponentially from 50 ms to 2 s and go on until the
 * transport closes; each waiting operation gives up after `connectTimeoutMs` with the
 * last connection error.
 */
export class AmqpConnection {
  private live: ChannelModel | undefined;
  private attempt: Promise<ChannelModel> | undefined;
  private lastError: unknown;
  private closed = false;
  private wakeBackoff: (() => void) | undefined;

  constructor(private readonly settings: AmqpConnectionSettings) {
    const given = settings.connection;
    if (given !== undefined) this.adopt(given);
  }

  /** Whether the transport owns (and so may close and reopen) its connection. */
  get owned(): boolean {
    return this.settings.connection === undefined;
  }

  /** The open connection, waiting for one to be (re)opened. */
  get(): Promise<ChannelModel> {
    if (this.closed) return Promise.reject(closedError());
    if (this.live !== undefined) return Promise.resolve(this.live);
    if (!this.owned) {
      return Promise.reject(
        new Error("the AMQP connection passed to the transport is closed", { cause: this.lastError }),
      );
    }
    if (this.attempt === undefined) {
      this.attempt = this.reconnect();
      // Waiters see its failure; the attempt itself ends only when the transport closes.
      this.attempt.catch(() => {});
    }
    return withTimeout(this.attempt, this.settings.connectTimeoutMs, () => {
      return new Error(`no connection to RabbitMQ within ${this.settings.connectTimeoutMs} ms`, {
        cause: this.lastError,
      });
    });
  }

  /** Opens a channel with an `error` listener, so that its errors never go unhandled. */
  async openChannel(onError: (error: unknown) => void): Promise<Channel> {
    const channel = await (await this.get()).createChannel();
    channel.on("error", onError);
    return channel;
  }

  /** Opens a channel in confirm mode with an `error` listener. */
  async openConfirmChannel(onError: (error: unknown) => void): Promise<ConfirmChannel> {
    const channel = await (await this.get()).createConfirmChannel();
    channel.on("error", onError);
    return channel;
  }

  /** Closes the connection if the transport opened it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeBackoff?.();
    const live = this.live;
    this.live = undefined;
    if (this.owned && live !== undefined) await live.close().catch(() => {});
  }

  private adopt(model: ChannelModel): void {
    this.live = model;
    // The `close` event follows every error; operations learn of it from their channels.
    model.on("error", (error: unknown) => {
      this.lastError = error;
    });
    model.on("close", (error?: unknown) => {
      if (error !== undefined) this.lastError = error;
      if (this.live === model) this.live = undefined;
    });
  }

  private async reconnect(): Promise<ChannelModel> {
    try {
      for (let failures = 0; ; failures++) {
        if (this.closed) throw closedError();
        try {
          const model = await connect(withHeartbeat(this.settings.url), {
            // Nagle's algorithm made a one-at-a-time round trip 31 ms instead of 0.3 ms here.
            noDelay: true,
            clientProperties: { connection_name: this.settings.name },
          });
          if (this.closed) {
            await model.close().catch(() => {});
            throw closedError();
          }
          this.adopt(model);
          return model;
        } catch (error) {
          if (this.closed) throw closedError();
          this.lastError = error;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.min(maxBackoffMs, minBackoffMs * 2 ** failures));
            this.wakeBackoff = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
      }
    } finally {
      this.attempt = undefined;
    }
  }
}

/**
 * A channel that is opened when first needed and again after it closed (a broker error,
 * a lost connection): `current` is the open one or undefined, `get()` opens one.
 */
export class ChannelSlot<C extends Channel> {
  private open: C | undefined;
  private opening: Promise<C> | undefined;
  private closed = false;

  constructor(
    private readonly openChannel: () => Promise<C>,
    private readonly onClose?: (channel: C) => void,
  ) {}

  /** The open channel, if there is one: publishing on it needs no promise. */
  get current(): C | undefined {
    return this.open;
  }

  /** The open channel, opening one if needed. */
  get(): Promise<C> {
    if (this.closed) return Promise.reject(closedError());
    if (this.open !== undefined) return Promise.resolve(this.open);
    this.opening ??= this.openChannel().then(
      (channel) => {
        this.opening = undefined;
        if (this.closed) {
          channel.close().catch(() => {});
          throw closedError();
        }
        this.open = channel;
        channel.on("close", () => {
          if (this.open === channel) this.open = undefined;
          this.onClose?.(channel);
        });
        return channel;
      },
      (error: unknown) => {
        this.opening = undefined;
        throw error;
      },
    );
    return this.opening;
  }

  /** Closes the channel; `get()` fails from now on. */
  async close(): Promise<void> {
    this.closed = true;
    const channel = this.open ?? (await this.opening?.catch(() => undefined));
    this.open = undefined;
    await channel?.close().catch(() => {});
  }
}

/**
 * The URL with a 10 s heartbeat unless it sets one: a silently dead socket is noticed
 * after two missed heartbeats, not after RabbitMQ's default of 60 s (three minutes here).
 */
function withHeartbeat(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.searchParams.has("heartbeat")) return url;
    parsed.searchParams.set("heartbeat", "10");
    return parsed.toString();
  } catch {
    return url;
  }
}

/** `promise`, or a rejection with `timeoutError()` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timeoutError()), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The error of an operation on a closed transport. */
export function closedError(): Error {
  return new Error("the AMQP transport is closed");
}
