import { type Command, Option } from "commander";
import { CliError } from "./cli-error.js";

/** The flags of {@link addTransportOptions}. */
export interface TransportFlags {
  readonly transport?: string;
  readonly results?: string;
  readonly prefix?: string;
}

/** Adds `--transport`, `--results` and `--prefix` (with their environment variables) to a command. */
export function addTransportOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        "-t, --transport <url>",
        "broker URL: memory:, redis://host:port, rediss://…, amqp://user:pass@host:port, amqps://…",
      ).env("DINGO_TRANSPORT"),
    )
    .addOption(
      new Option(
        "--results <redis-url>",
        "with an amqp:// transport: keep reports and results on this Redis (mixed mode)",
      ).env("DINGO_RESULTS"),
    )
    .addOption(
      new Option("--prefix <prefix>", "prefix of the broker's keys, exchanges and queues (default: dingo)").env(
        "DINGO_PREFIX",
      ),
    );
}

/** The transport URL, or a {@link CliError} saying how to give one. */
export function requireTransportUrl(flags: TransportFlags): string {
  if (flags.transport === undefined || flags.transport === "") {
    throw new CliError("no transport: give --transport <url> or set DINGO_TRANSPORT (e.g. redis://127.0.0.1:6379)");
  }
  return flags.transport;
}
