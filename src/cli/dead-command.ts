import { createInterface } from "node:readline/promises";
import { Command } from "commander";
import { decodeTask } from "../envelope.js";
import { requeueDeadLetters } from "../requeue-dead-letters.js";
import type { QueueAdmin } from "../transport/queue-admin.js";
import type { DeadLetter } from "../transport/transport.js";
import { CliError } from "./cli-error.js";
import { integerOption } from "./integer-option.js";
import { withQueueAdmin } from "./open-admin.js";
import { textTable } from "./text-table.js";
import { addTransportOptions, type TransportFlags } from "./transport-options.js";

interface ListFlags extends TransportFlags {
  readonly limit: number;
  readonly json?: boolean;
}

interface RequeueFlags extends TransportFlags {
  readonly all?: boolean;
}

interface PurgeFlags extends TransportFlags {
  readonly yes?: boolean;
}

/** `dingo dead list | requeue | purge <queue>`: the dead letters of a queue. */
export function createDeadCommand(): Command {
  const dead = new Command("dead")
    .summary("list, requeue or purge the dead letters of a queue")
    .description(
      "A task a worker could not process (undecodable, unknown task, payload of the wrong " +
        "type, delivered too many times) is moved to its queue's dead letters with the " +
        "reason. List them, put them back on their queue, or delete them.",
    )
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  $ dingo dead list example.v1.MathTasks/Add -t redis://127.0.0.1:6379 --limit 20\n" +
        "  $ dingo dead requeue example.v1.MathTasks/Add 1767607200000-0 -t redis://127.0.0.1:6379\n" +
        "  $ dingo dead requeue example.v1.MathTasks/Add --all -t amqp://guest:guest@127.0.0.1:5672\n" +
        "  $ dingo dead purge example.v1.MathTasks/Add --yes -t redis://127.0.0.1:6379\n\n" +
        "Run `dingo dead <command> --help` for the options of each.",
    );
  dead.addCommand(createListCommand());
  dead.addCommand(createRequeueCommand());
  dead.addCommand(createPurgeCommand());
  return dead;
}

function createListCommand(): Command {
  const command = new Command("list")
    .summary("show the newest dead letters of a queue, with reasons")
    .description(
      "Show the newest dead letters of <queue>, oldest first: the dead letter's id (for " +
        "requeue), the task's name and id (read from its envelope; ? if it does not " +
        "decode), when it was dead-lettered, its delivery count and the reason. Listing " +
        "leaves them in place.",
    )
    .argument("<queue>", "the queue (a task's queue: its (dingo.v1.task) queue, else its task name)");
  addTransportOptions(command)
    .option("-n, --limit <n>", "show at most this many, the newest", integerOption(1), 100)
    .option("--json", "print a JSON array: [{id, task, taskId, reason, at, atMs, deliveries, body (base64)}]")
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  $ dingo dead list example.v1.MathTasks/Add -t redis://127.0.0.1:6379\n" +
        "  $ dingo dead list example.v1.MathTasks/Add -t amqp://127.0.0.1 --limit 10 --json",
    )
    .action(async (queue: string, flags: ListFlags) => {
      await withQueueAdmin(flags, "dead list", async (admin) => {
        const letters = (await admin.deadLetters(queue, flags.limit)).map(describeLetter);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(letters)}\n`);
          return;
        }
        if (letters.length === 0) {
          process.stdout.write(`no dead letters in ${queue}\n`);
          return;
        }
        const rows = letters.map((letter) => [
          letter.id,
          letter.task,
          letter.taskId,
          letter.at,
          String(letter.deliveries),
          letter.reason,
        ]);
        process.stdout.write(
          textTable(["ID", "TASK", "TASK ID", "DEAD AT", "DELIVERIES", "REASON"], rows, [
            "left",
            "left",
            "left",
            "left",
            "right",
            "left",
          ]),
        );
      });
    });
  return command;
}

function createRequeueCommand(): Command {
  const command = new Command("requeue")
    .summary("put dead letters back on their queue")
    .description(
      "Put the dead letters named by [ids...] (as `dead list` shows them), or all of them " +
        "with --all, back on <queue> as fresh tasks: due now, delivery count 0, the task " +
        "unchanged. A dead letter leaves the list only once its task is queued again. " +
        "The failure recorded when a worker dead-lettered the task (unknown task, bad " +
        "payload, too many deliveries) is deleted first, so that the task runs again; " +
        "on RabbitMQ without --results, workers keep their own records and may still " +
        "answer from them. Exits 1 if an id was not found.",
    )
    .argument("<queue>", "the queue")
    .argument("[ids...]", "dead-letter ids (the ID column of dead list)");
  addTransportOptions(command)
    .option("--all", "requeue every dead letter of the queue")
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  $ dingo dead requeue example.v1.MathTasks/Add 1767607200000-0 -t redis://127.0.0.1:6379\n" +
        "  $ dingo dead requeue example.v1.MathTasks/Add --all -t amqp://127.0.0.1",
    )
    .action(async (queue: string, ids: string[], flags: RequeueFlags) => {
      if (flags.all === true && ids.length > 0) throw new CliError("dead requeue: give ids or --all, not both");
      if (flags.all !== true && ids.length === 0) {
        throw new CliError("dead requeue: name the dead letters to requeue (ids from dead list), or pass --all");
      }
      await withQueueAdmin(flags, "dead requeue", async (_admin, _kind, transport) => {
        const result = await requeueDeadLetters(transport, queue, flags.all === true ? "all" : ids);
        process.stdout.write(`requeued ${plural(result.requeued, "dead letter")} to ${queue}\n`);
        if (result.missing.length > 0) {
          throw new CliError(`dead requeue: not among the dead letters of ${queue}: ${result.missing.join(", ")}`);
        }
      });
    });
  return command;
}

function createPurgeCommand(): Command {
  const command = new Command("purge")
    .summary("delete every dead letter of a queue")
    .description(
      "Delete every dead letter of <queue>. Asks for confirmation on a terminal; without " +
        "one (a script, a pipe), refuses unless --yes is given.",
    )
    .argument("<queue>", "the queue");
  addTransportOptions(command)
    .option("-y, --yes", "do not ask for confirmation")
    .addHelpText("after", "\nExample:\n  $ dingo dead purge example.v1.MathTasks/Add --yes -t redis://127.0.0.1:6379")
    .action(async (queue: string, flags: PurgeFlags) => {
      if (flags.yes !== true && process.stdin.isTTY !== true) {
        throw new CliError("dead purge: stdin is not a terminal to confirm on; pass --yes to delete without asking");
      }
      await withQueueAdmin(flags, "dead purge", async (admin) => {
        if (flags.yes !== true && !(await confirmPurge(admin, queue))) {
          throw new CliError("dead purge: not confirmed; nothing deleted");
        }
        const purged = await admin.purge(queue);
        process.stdout.write(`purged ${plural(purged, "dead letter")} of ${queue}\n`);
      });
    });
  return command;
}

async function confirmPurge(admin: QueueAdmin, queue: string): Promise<boolean> {
  const { dead } = await admin.stats(queue);
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`delete the ${plural(dead, "dead letter")} of ${queue}? [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}

/** A dead letter as `dead list` shows it. */
interface DescribedLetter {
  readonly id: string;
  /** The task name, `?` if the envelope does not decode. */
  readonly task: string;
  readonly taskId: string;
  readonly reason: string;
  /** ISO 8601. */
  readonly at: string;
  readonly atMs: number;
  readonly deliveries: number;
  /** The dead-lettered bytes, base64. */
  readonly body: string;
}

function describeLetter(letter: DeadLetter): DescribedLetter {
  let task = "?";
  let taskId = "?";
  try {
    const decoded = decodeTask(letter.body);
    task = decoded.name || "?";
    taskId = decoded.id || "?";
  } catch {
    // Undecodable envelopes are dead letters too; their reason says so.
  }
  return {
    id: letter.id,
    task,
    taskId,
    reason: letter.reason,
    at: new Date(letter.atMs).toISOString(),
    atMs: letter.atMs,
    deliveries: letter.deliveries,
    body: Buffer.from(letter.body).toString("base64"),
  };
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
