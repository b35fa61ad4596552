import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { asBuffer, asBytes } from "./redis-bytes.js";
import { redisConnectionName } from "./redis-connection-name.js";
import { RedisTickBatch } from "./redis-tick-batch.js";
import type { Inbox, InboxOptions, ReportRouter, Subscription } from "./transport.js";

/** Settings of the Redis report router, resolved by `createRedisTransport`. */
export interface RedisReportRouterSettings {
  /** Command connection. */
  readonly redis: Redis;
  readonly prefix: string;
  /** How long an inbox keeps reports (and accepts them) without its caller, ms. */
  readonly inboxTtlMs: number;
  /** Longest blocking read of an inbox. */
  readonly blockMs: number;
}

/** Most reports one read of an inbox takes. */
const readBatch = 512;
/** Longest wait between attempts after an error. */
const maxErrorPauseMs = 2000;

/**
 * Reports on Redis: each caller's inbox is a list that senders append to only while the
 * caller keeps its marker alive, so reports wait there while the caller is briefly
 * disconnected; cancellations to workers are Pub/Sub broadcasts (docs/WIRE.md, Redis
 * mapping).
 */
export class RedisReportRouter implements ReportRouter {
  private readonly inboxes = new Set<RedisInbox>();
  private readonly subscribers = new Set<InboxOptions>();
  private readonly channel: string;
  /** Reports of one tick, one `send` script per inbox. */
  private readonly sends: RedisTickBatch<Buffer>;
  private subscriber: Promise<Redis> | undefined;
  private closed = false;

  constructor(private readonly settings: RedisReportRouterSettings) {
    this.channel = `${settings.prefix}:broadcast`;
    const retention = settings.inboxTtlMs;
    this.sends = new RedisTickBatch(settings.redis, "dingoSend", (address, reports) => [
      address,
      `${address}:alive`,
      ...reports,
      retention,
    ]);
    // A server that restarted without its data lost the inboxes' markers, and workers drop
    // reports to an inbox without one. The publishes that the command connection sends
    // again once reconnected name these inboxes as their reply addresses: write the markers
    // right behind them, in the same tick, before any worker can have run one of those
    // tasks. (An inbox's own connection reconnects on a schedule of its own, maybe later.)
    settings.redis.on("ready", this.markInboxesAlive);
  }

  private readonly markInboxesAlive = (): void => {
    for (const inbox of this.inboxes) inbox.markAliveAgain();
  };

  async openInbox(options: InboxOptions): Promise<Inbox> {
    if (this.closed) throw closedError();
    const inbox = new RedisInbox(this.settings, options, (closed) => this.inboxes.delete(closed));
    this.inboxes.add(inbox);
    try {
      await inbox.open();
    } catch (error) {
      await inbox.close();
      throw error;
    }
    return inbox;
  }

  send(address: string, report: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    return this.sends.add(address, asBuffer(report)).then(ignore);
  }

  async broadcast(report: Uint8Array): Promise<void> {
    if (this.closed) throw closedError();
    await this.settings.redis.publish(this.channel, asBuffer(report));
  }

  async subscribe(options: InboxOptions): Promise<Subscription> {
    if (this.closed) throw closedError();
    // A wrapper per subscription, so that subscribing the same options twice is two subscriptions.
    const subscription: InboxOptions = { onReport: options.onReport, onError: options.onError, onLink: options.onLink };
    this.subscribers.add(subscription);
    try {
      await this.subscribed();
    } catch (error) {
      this.subscribers.delete(subscription);
      throw error;
    }
    return {
      close: async () => {
        this.subscribers.delete(subscription);
      },
    };
  }

  /** The connection receiving broadcasts, subscribed once for all subscriptions. */
  private subscribed(): Promise<Redis> {
    this.subscriber ??= (async () => {
      const connection = this.settings.redis.duplicate({
        connectionName: redisConnectionName(this.settings.prefix, "broadcast"),
        enableAutoPipelining: false,
        maxRetriesPerRequest: null,
      });
      connection.on("error", (error: unknown) => {
        for (const subscriber of this.subscribers) subscriber.onError(error);
      });
      connection.on("messageBuffer", (_channel: Buffer, message: Buffer) => {
        const report = asBytes(message);
        for (const subscriber of this.subscribers) {
          try {
            subscriber.onReport(report);
          } catch (error) {
            subscriber.onError(error);
          }
        }
      });
      // Pub/Sub keeps nothing for a subscriber that is away: tell the subscribers when
      // broadcasts may be missed, and when they are heard again. ioredis subscribes again
      // by itself after a reconnect, as it turns ready; subscribing once more (a no-op
      // for Redis) answers once that is done.
      connection.on("close", () => this.tellLink(false));
      connection.on("ready", () => {
        if (this.closed) return;
        // A failure here is the connection failing again: "close" says so.
        connection.subscribe(this.channel).then(() => this.tellLink(true), ignore);
      });
      try {
        await connection.subscribe(this.channel);
      } catch (error) {
        connection.disconnect();
        throw error;
      }
      return connection;
    })();
    this.subscriber.catch(() => {
      this.subscriber = undefined;
    });
    return this.subscriber;
  }

  private tellLink(up: boolean): void {
    for (const subscriber of this.subscribers) {
      try {
        subscriber.onLink?.(up);
      } catch (error) {
        subscriber.onError(error);
      }
    }
  }

  /** Closes every inbox and the broadcast connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.settings.redis.off("ready", this.markInboxesAlive);
    this.subscribers.clear();
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    const steps = [...this.inboxes].map((inbox) => inbox.close());
    if (subscriber !== undefined) steps.push(subscriber.then((connection) => connection.disconnect()));
    const results = await Promise.allSettled(steps);
    for (const result of results) if (result.status === "rejected") throw result.reason;
  }
}

/** One caller's inbox: a list read by a loop on a connection of its own. */
class RedisInbox implements Inbox {
  readonly address: string;
  private readonly alive: string;
  private readonly redis: Redis;
  private connection: Redis | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private closed = false;
  private wake: (() => void) | undefined;
  /** Whether the connection was ready once: later `ready` events are reconnects. */
  private connectedBefore = false;

  constructor(
    private readonly settings: RedisReportRouterSettings,
    private readonly options: InboxOptions,
    private readonly onClosed: (inbox: RedisInbox) => void,
  ) {
    this.redis = settings.redis;
    this.address = `${settings.prefix}:inbox:{${randomUUID()}}`;
    this.alive = `${this.address}:alive`;
  }

  async open(): Promise<void> {
    await this.markAlive();
    this.keepAlive = setInterval(() => {
      this.markAlive().catch((error: unknown) => this.report(error));
    }, this.settings.inboxTtlMs / 3);
    this.keepAlive.unref();
    const connection = this.redis.duplicate({
      connectionName: redisConnectionName(this.settings.prefix, "inbox"),
      enableAutoPipelining: false,
      maxRetriesPerRequest: null,
    });
    this.connection = connection;
    connection.on("error", ignore);
    // A server that restarted without its data lost the marker: say again that we listen.
    // (And when the command connection is ready again: see RedisReportRouter.)
    connection.on("ready", this.markAliveAgain);
    // BLMPOP removes what it reads: a read whose reply died with the connection lost its
    // reports. After every reconnect the caller recovers outcomes from the result store.
    connection.on("ready", this.reportGap);
    this.loop = this.read(connection);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.onClosed(this);
    clearInterval(this.keepAlive);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
    // Reports popped by a read in flight are lost with the socket: nobody waits for them now.
    this.connection?.disconnect();
    await this.loop;
    await this.redis.del(this.alive, this.address);
  }

  private readonly reportGap = (): void => {
    if (!this.connectedBefore) {
      this.connectedBefore = true;
      return;
    }
    if (!this.closed) this.options.onGap?.();
  };

  /** Writes the marker again after a reconnect, unless closed. */
  readonly markAliveAgain = (): void => {
    if (!this.closed) this.markAlive().catch((error: unknown) => this.report(error));
  };

  private markAlive(): Promise<unknown> {
    return this.redis.set(this.alive, "1", "PX", this.settings.inboxTtlMs);
  }

  private async read(connection: Redis): Promise<void> {
    const timeoutSeconds = this.settings.blockMs / 1000;
    let failures = 0;
    while (!this.closed) {
      try {
        const reply = await connection.callBuffer(
          "BLMPOP",
          timeoutSeconds,
          1,
          this.address,
          "LEFT",
          "COUNT",
          readBatch,
        );
        failures = 0;
        if (!Array.isArray(reply) || !Array.isArray(reply[1])) continue;
        for (const report of reply[1] as unknown[]) {
          try {
            this.options.onReport(asBytes(report));
          } catch (error) {
            this.report(error);
          }
        }
      } catch (error) {
        if (this.closed) break;
        this.report(error);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(maxErrorPauseMs, 50 * 2 ** failures++));
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }

  private report(error: unknown): void {
    try {
      this.options.onError(error);
    } catch {
      // The listener's own failure must not stop the inbox.
    }
  }
}

function ignore(): void {}

function closedError(): Error {
  return new Error("the Redis transport is closed");
}
