import { Command, Option } from "commander";
import type { Message, Type } from "protobufjs";
import type { CallOptions } from "../call-options.js";
import { createClient } from "../client.js";
import { codes } from "../code.js";
import type { TaskCall } from "../task-call.js";
import { TaskError } from "../task-error.js";
import type { TaskReport } from "../task-report.js";
import { CliError } from "./cli-error.js";
import { integerOption } from "./integer-option.js";
import { loadTaskMethod } from "./load-task-method.js";
import { requestFromJson } from "./request-from-json.js";
import { transportFromUrl, transportKind } from "./transport-from-url.js";
import { addTransportOptions, requireTransportUrl, type TransportFlags } from "./transport-options.js";

interface CallFlags extends TransportFlags {
  readonly proto: string;
  readonly watch?: boolean;
  readonly delay?: number;
  readonly timeout: number;
  readonly attempts?: number;
  readonly priority?: number;
  readonly header: readonly string[];
  readonly id?: string;
}

/** Exit codes of failed tasks are this plus the gRPC code number (as grpcurl does). */
export const taskFailureExitBase = 64;

/** The exit code of a task that failed with `error`: 64 + its gRPC code number. */
export function exitCodeOf(error: TaskError): number {
  return taskFailureExitBase + codes.indexOf(error.code) + 1;
}

/**
 * `dingo call <task> [json]`: encodes a JSON request with the `.proto` files, calls the
 * task as a typed client would, and prints the response as JSON.
 */
export function createCallCommand(): Command {
  const command = new Command("call")
    .summary("call a task with a JSON request and print its result")
    .description(
      "Call <task> (its full name, <package>.<Service>/<Method>) with the JSON request\n" +
        "[json] (default {}), encoded with the method's request type read from the .proto\n" +
        "files under --proto. The request is checked before anything is sent: unknown\n" +
        "fields, wrong types and out-of-range integers are errors naming the field.\n" +
        "Field names may be lowerCamelCase or as in the .proto; enums are names or\n" +
        "numbers; 64-bit integers are numbers or decimal strings; bytes are base64.\n\n" +
        "The task gets its (dingo.v1.defaults) and (dingo.v1.task) options, as from a\n" +
        "generated client. The response is printed on stdout as one line of JSON (proto3\n" +
        "JSON: lowerCamelCase names, defaults included, enums as names). With --watch,\n" +
        "every report (sent, received, progress, retry, final) is printed on stderr as\n" +
        "it arrives. memory: cannot be used: no worker shares this process.",
    )
    .argument("<task>", "full task name, e.g. example.v1.MathTasks/Add")
    .argument("[json]", "the request as a JSON object", "{}");
  addTransportOptions(command)
    .option("--proto <dir>", "root directory of the .proto files", "proto")
    .option("-w, --watch", "print every report on stderr as it arrives")
    .option("--timeout <ms>", "how long to wait for the outcome; 0 waits forever", integerOption(0), 30_000)
    .option("--delay <ms>", "do not start the task before this many ms from now", integerOption(0))
    .option("--attempts <n>", "total attempts, over the .proto options", integerOption(1))
    .option("--priority <0-9>", "priority, over the .proto options; higher first", integerOption(0, 9))
    .addOption(
      new Option("-H, --header <key=value>", "a header for the worker (repeatable)")
        .argParser((value: string, previous: readonly string[]) => [...previous, value])
        .default([], "none"),
    )
    .option("--id <id>", "the task id (default: a random UUID)")
    .addHelpText(
      "after",
      "\nExit codes: 0 success; 1 bad input or broker unreachable (nothing was sent);\n" +
        `${taskFailureExitBase} + the gRPC code when the task fails: 65 cancelled, 66 unknown, 67 invalid_argument,\n` +
        "68 deadline_exceeded (also when --timeout passes), 69 not_found, 70 already_exists,\n" +
        "71 permission_denied, 72 resource_exhausted, 73 failed_precondition, 74 aborted,\n" +
        "75 out_of_range, 76 unimplemented, 77 internal, 78 unavailable, 79 data_loss,\n" +
        "80 unauthenticated.\n\n" +
        "Examples:\n" +
        `  $ dingo call example.v1.MathTasks/Add '{"a": 1, "b": 2}' -t redis://127.0.0.1:6379\n` +
        `  $ dingo call example.v1.MathTasks/CountPrimes '{"limit": 100000}' --watch\n` +
        `  $ dingo call example.v1.MathTasks/Divide '{"dividend": 1, "divisor": 4}' --delay 5000 -H tenant=acme`,
    )
    .action(async (taskName: string, json: string, flags: CallFlags) => {
      await runCall(taskName, json, flags);
    });
  return command;
}

async function runCall(taskName: string, json: string, flags: CallFlags): Promise<void> {
  const method = await loadTaskMethod(flags.proto, taskName);
  const request = requestFromJson(method.request, json);
  const headers = parseHeaders(flags.header);
  const url = requireTransportUrl(flags);
  if (transportKind(url) === "memory") {
    throw new CliError(
      "memory: cannot be used by dingo call: the memory transport only reaches workers in the same process; use redis:// or amqp://",
    );
  }
  const opened = await transportFromUrl({ url, results: flags.results, prefix: flags.prefix });
  try {
    const client = createClient(method.service, opened.transport) as unknown as Record<
      string,
      (request: Message, options: CallOptions) => TaskCall<Message>
    >;
    const task: { maxAttempts?: number; priority?: number } = {};
    if (flags.attempts !== undefined) task.maxAttempts = flags.attempts;
    if (flags.priority !== undefined) task.priority = flags.priority;
    const call = (client[method.key] as (request: Message, options: CallOptions) => TaskCall<Message>)(request, {
      ...(flags.id === undefined ? {} : { id: flags.id }),
      ...(flags.delay === undefined ? {} : { delayMs: flags.delay }),
      ...(flags.timeout === 0 ? {} : { timeoutMs: flags.timeout }),
      ...(Object.keys(task).length === 0 ? {} : { task }),
      ...(headers === undefined ? {} : { headers }),
      reports: flags.watch ? "all" : "final",
    });
    if (flags.watch) {
      for await (const report of call.reports()) process.stderr.write(`${describeReport(report, method.response)}\n`);
    }
    let response: Message;
    try {
      response = await call.result;
    } catch (error) {
      const failure = TaskError.from(error);
      throw new CliError(`${taskName} failed: ${failure.code}: ${failure.rawMessage}`, exitCodeOf(failure));
    }
    process.stdout.write(`${JSON.stringify(toJson(method.response, response))}\n`);
  } finally {
    await opened.close().catch(() => {});
  }
}

function parseHeaders(pairs: readonly string[]): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined;
  const headers: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf("=");
    if (equals <= 0) throw new CliError(`--header must be key=value, got "${pair}"`);
    headers[pair.slice(0, equals).trim().toLowerCase()] = pair.slice(equals + 1);
  }
  return headers;
}

/** A message as proto3 JSON: defaults included, enums as names, 64-bit integers as numbers, bytes as base64. */
function toJson(type: Type, message: Message): unknown {
  return type.toObject(message, {
    longs: Number,
    enums: String,
    bytes: String,
    defaults: true,
    arrays: true,
    objects: true,
    json: true,
  });
}

function describeReport(report: TaskReport<Message>, responseType: Type): string {
  const time = new Date(report.atMs).toISOString();
  const base = `${time} ${report.status.padEnd(9)} id=${report.taskId}`;
  const attempt = report.attempt > 0 ? ` attempt=${report.attempt}` : "";
  const worker = report.workerId === "" ? "" : ` worker=${report.workerId}`;
  switch (report.status) {
    case "sent":
      return `${base} name=${report.name}`;
    case "received":
      return `${base}${attempt}${worker}`;
    case "progress": {
      const percent = report.progress.percent === undefined ? "" : ` percent=${report.progress.percent.toFixed(1)}`;
      const message = report.progress.message ? ` message=${JSON.stringify(report.progress.message)}` : "";
      return `${base}${attempt}${percent}${message}`;
    }
    case "retry":
      return `${base}${attempt} code=${report.error.code} error=${JSON.stringify(report.error.rawMessage)} next_attempt_at=${new Date(report.nextAttemptAtMs).toISOString()}`;
    case "success":
      return `${base}${attempt}${worker} response=${JSON.stringify(toJson(responseType, report.response))}`;
    case "failure":
    case "cancelled":
      return `${base}${attempt}${worker} code=${report.error.code} error=${JSON.stringify(report.error.rawMessage)}`;
  }
}
