import { Command, Option } from "commander";
import type { QueueAdmin, QueueStats } from "../transport/queue-admin.js";
import { CliError } from "./cli-error.js";
import { integerOption } from "./integer-option.js";
import { withQueueAdmin } from "./open-admin.js";
import { queueList } from "./queue-list.js";
import { textTable } from "./text-table.js";
import { addTransportOptions, type TransportFlags } from "./transport-options.js";

interface InspectFlags extends TransportFlags {
  readonly queues?: string;
  readonly json?: boolean;
  /** `true` for `--watch` without a value. */
  readonly watch?: number | true;
}

/** What one look at the broker found. */
interface Snapshot {
  readonly at: Date;
  readonly queues: readonly QueueStats[];
  /** Tasks in RabbitMQ's delay buckets, which no queue can be given; undefined elsewhere. */
  readonly sharedDelayed: number | undefined;
}

/** Refresh interval of `--watch` without a value, ms. */
const defaultWatchMs = 2000;

/**
 * `dingo inspect`: per queue, the tasks waiting, delayed, in flight and dead-lettered, and
 * the consumers, as a table or JSON; `--watch` refreshes until SIGINT/SIGTERM.
 */
export function createInspectCommand(): Command {
  const command = new Command("inspect")
    .summary("show the queues of a broker: waiting, delayed, in flight, dead, consumers")
    .description(
      "Show, per queue, the tasks waiting for a worker, delayed (not due yet), in flight " +
        "(delivered, not settled), dead-lettered, and the consumers. On Redis the queues are " +
        "found by scanning the prefix's keys; RabbitMQ cannot list queues over AMQP, so " +
        "name them with --queues. A count the broker cannot tell is shown as - (null in " +
        "JSON): RabbitMQ does not count unacknowledged deliveries, and its delay buckets " +
        "are shared by every queue, so their total is shown once, below the table.\n\n" +
        "--watch refreshes every <ms> (default 2000) until SIGINT or SIGTERM, redrawing " +
        "on a terminal and printing one block (one JSON line with --json) per refresh " +
        "otherwise.",
    );
  addTransportOptions(command)
    .option("-q, --queues <names>", "only these queues (comma-separated); required on RabbitMQ")
    .option("--json", "print JSON: {at, queues: [{queue, waiting, delayed, inFlight, dead, consumers}], sharedDelayed}")
    .addOption(
      new Option("-w, --watch [ms]", `refresh every <ms> (default ${defaultWatchMs}) until interrupted`).argParser(
        integerOption(100),
      ),
    )
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  $ dingo inspect -t redis://127.0.0.1:6379\n" +
        "  $ dingo inspect -t amqp://guest:guest@127.0.0.1:5672 --queues example.v1.MathTasks/Add --json\n" +
        "  $ dingo inspect -t redis://127.0.0.1:6379 --watch 1000",
    )
    .action(async (flags: InspectFlags) => {
      const wanted = flags.queues === undefined ? undefined : queueList(flags.queues);
      await withQueueAdmin(flags, "inspect", async (admin, kind) => {
        const look = async (): Promise<Snapshot> => {
          const queues = wanted ?? (await admin.queues());
          if (queues === undefined) {
            throw new CliError(
              `inspect: ${kind === "amqp" ? "RabbitMQ" : "this broker"} cannot list its queues; name them with --queues a,b`,
            );
          }
          return snapshot(admin, queues);
        };
        const print = (found: Snapshot): void => {
          process.stdout.write(flags.json ? `${JSON.stringify(jsonOf(found))}\n` : tableOf(found));
        };
        if (flags.watch === undefined) {
          print(await look());
          return;
        }
        await watch(look, print, flags.watch === true ? defaultWatchMs : flags.watch, flags.json === true);
      });
    });
  return command;
}

async function snapshot(admin: QueueAdmin, queues: readonly string[]): Promise<Snapshot> {
  const [stats, sharedDelayed] = await Promise.all([
    Promise.all(queues.map((queue) => admin.stats(queue))),
    admin.sharedDelayed(),
  ]);
  return { at: new Date(), queues: stats, sharedDelayed };
}

function jsonOf(found: Snapshot): unknown {
  return {
    at: found.at.toISOString(),
    queues: found.queues.map((stats) => ({
      queue: stats.queue,
      waiting: stats.waiting,
      delayed: stats.delayed ?? null,
      inFlight: stats.inFlight ?? null,
      dead: stats.dead,
      consumers: stats.consumers,
    })),
    sharedDelayed: found.sharedDelayed ?? null,
  };
}

function tableOf(found: Snapshot): string {
  const count = (value: number | undefined): string => (value === undefined ? "-" : String(value));
  const rows = found.queues.map((stats) => [
    stats.queue,
    count(stats.waiting),
    count(stats.delayed),
    count(stats.inFlight),
    count(stats.dead),
    count(stats.consumers),
  ]);
  let text =
    rows.length === 0
      ? "no queues\n"
      : textTable(["QUEUE", "WAITING", "DELAYED", "IN FLIGHT", "DEAD", "CONSUMERS"], rows, [
          "left",
          "right",
          "right",
          "right",
          "right",
          "right",
        ]);
  if (found.sharedDelayed !== undefined) {
    text += `delayed in the shared delay buckets (all queues): ${found.sharedDelayed}\n`;
  }
  return text;
}

/**
 * Prints a snapshot every `intervalMs` until SIGINT or SIGTERM, then resolves (exit 0).
 * On a terminal each one replaces the last; otherwise each is a block of its own.
 */
async function watch(
  look: () => Promise<Snapshot>,
  print: (found: Snapshot) => void,
  intervalMs: number,
  json: boolean,
): Promise<void> {
  const redraw = process.stdout.isTTY === true && !json;
  let wake: (() => void) | undefined;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    wake?.();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    for (let first = true; !stopped; first = false) {
      const found = await look();
      if (stopped) break;
      // Each table under its time: on a terminal, in place of the last (cursor home, clear
      // screen); otherwise after a blank line. JSON lines carry their time already.
      const stamp = `${found.at.toISOString()}\n`;
      if (redraw) process.stdout.write(`\x1b[H\x1b[2J${stamp}`);
      else if (!json) process.stdout.write(first ? stamp : `\n${stamp}`);
      print(found);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}
