import type { QueueAdmin } from "../transport/queue-admin.js";
import type { Transport } from "../transport/transport.js";
import { CliError } from "./cli-error.js";
import { transportFromUrl, transportKind } from "./transport-from-url.js";
import { requireTransportUrl, type TransportFlags } from "./transport-options.js";

/**
 * Runs `use` with the queue admin of the broker the flags name, closing the transport
 * after, whatever happens. `memory:` is refused: its queues live in one process, and a
 * fresh one has none.
 */
export async function withQueueAdmin<T>(
  flags: TransportFlags,
  command: string,
  use: (admin: QueueAdmin, kind: "redis" | "amqp", transport: Transport) => Promise<T>,
): Promise<T> {
  const url = requireTransportUrl(flags);
  const kind = transportKind(url);
  if (kind === "memory") {
    throw new CliError(`${command}: memory: queues live inside one process; give a redis:// or amqp:// --transport`);
  }
  const opened = await transportFromUrl({ url, results: flags.results, prefix: flags.prefix });
  try {
    return await use(opened.transport.admin, kind, opened.transport);
  } finally {
    await opened.close().catch(() => {});
  }
}
