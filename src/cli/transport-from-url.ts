import type { Transport } from "../transport/transport.js";
import { CliError } from "./cli-error.js";

/** Which transport a URL names. */
export type TransportKind = "memory" | "redis" | "amqp";

/** Options of {@link transportFromUrl}. */
export interface TransportFromUrlOptions {
  /** `memory:`, `redis://…`, `rediss://…`, `amqp://…` or `amqps://…`. */
  readonly url: string;
  /** A `redis://` / `rediss://` URL for reports and results of an AMQP transport (mixed mode). */
  readonly results?: string | undefined;
  /** Prefix of the broker's keys or queue names; the transport's default when absent. */
  readonly prefix?: string | undefined;
}

/** A transport opened from a URL. */
export interface OpenedTransport {
  readonly transport: Transport;
  readonly kind: TransportKind;
  /** The URL(s) without passwords, for logs. */
  readonly description: string;
  /** Closes everything opened for it (both transports in mixed mode). */
  close(): Promise<void>;
}

/** How long the first connection to a broker may take before the CLI gives up, ms. */
const connectTimeoutMs = 5000;

/** The kind of transport a URL names; a {@link CliError} for anything else. */
export function transportKind(url: string, option = "--transport"): TransportKind {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case "memory":
      return "memory";
    case "redis":
    case "rediss":
      return "redis";
    case "amqp":
    case "amqps":
      return "amqp";
    default:
      throw new CliError(
        `${option}: unsupported URL "${redact(url)}"; use memory:, redis://, rediss://, amqp:// or amqps://`,
      );
  }
}

/**
 * Opens the transport a URL names, after checking that its broker answers, so that a
 * wrong URL fails at once with one clear line instead of retrying in the background.
 * ioredis and amqplib are imported only when the URL asks for them.
 */
export async function transportFromUrl(options: TransportFromUrlOptions): Promise<OpenedTransport> {
  const kind = transportKind(options.url);
  if (options.results !== undefined) {
    if (kind !== "amqp") throw new CliError("--results is only for amqp:// and amqps:// transports (mixed mode)");
    if (transportKind(options.results, "--results") !== "redis") {
      throw new CliError(`--results must be a redis:// or rediss:// URL, got "${redact(options.results)}"`);
    }
  }
  const prefix = options.prefix;
  if (prefix !== undefined && (prefix === "" || /[\s{}]/.test(prefix))) {
    throw new CliError(`--prefix must be non-empty, without whitespace or braces, got "${prefix}"`);
  }
  switch (kind) {
    case "memory": {
      const { createMemoryTransport } = await import("../transport/memory-transport.js");
      return opened(createMemoryTransport(), kind, "memory:");
    }
    case "redis":
      return opened(await openRedis(options.url, prefix), kind, redact(options.url));
    case "amqp": {
      await probeAmqp(options.url);
      const { createAmqpTransport } = await import("../transport/amqp-transport.js");
      if (options.results === undefined) {
        return opened(createAmqpTransport({ url: options.url, prefix }), kind, redact(options.url));
      }
      const redis = await openRedis(options.results, prefix);
      const amqp = createAmqpTransport({ url: options.url, prefix, reports: redis.reports, results: redis.results });
      return {
        transport: amqp,
        kind,
        description: `${redact(options.url)} (results: ${redact(options.results)})`,
        async close() {
          // The AMQP transport does not close the Redis parts it was given.
          try {
            await amqp.close();
          } finally {
            await redis.close();
          }
        },
      };
    }
  }
}

function opened(transport: Transport, kind: TransportKind, description: string): OpenedTransport {
  return { transport, kind, description, close: () => transport.close() };
}

async function openRedis(url: string, prefix: string | undefined): Promise<Transport> {
  const { Redis } = await import("ioredis");
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // connect() rejects with "Connection is closed."; the error event says why.
  let cause: unknown;
  probe.on("error", (error: unknown) => {
    cause ??= error;
  });
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    throw new CliError(`cannot reach Redis at ${redact(url)}: ${messageOf(cause ?? error)}`);
  } finally {
    probe.disconnect();
  }
  const { createRedisTransport } = await import("../transport/redis-transport.js");
  return createRedisTransport({ url, prefix });
}

async function probeAmqp(url: string): Promise<void> {
  const { connect } = await import("amqplib");
  try {
    const probe = await connect(url, { timeout: connectTimeoutMs });
    probe.on("error", () => {});
    await probe.close();
  } catch (error) {
    throw new CliError(`cannot reach RabbitMQ at ${redact(url)}: ${messageOf(error)}`);
  }
}

/** The URL with its password replaced by `***`. */
export function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/i, "$1***@");
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    // Node's AggregateError (IPv4 and IPv6 both refused) has an empty message.
    if (error.message === "" && error instanceof AggregateError && error.errors[0] instanceof Error) {
      return error.errors[0].message;
    }
    return error.message || error.name;
  }
  return String(error);
}
