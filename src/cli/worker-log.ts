import type { DingoEvent } from "../dingo-event.js";
import { TaskError } from "../task-error.js";

/** How log lines look: `text` for people (`<time> <level> <event> key=value …`), `json` for collectors. */
export type LogFormat = "text" | "json";

/** Log levels, in order of severity. */
export type LogLevel = "info" | "warn" | "error";

/** Fields of one log line. Undefined fields are left out. */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/** Writes one structured line per event. */
export interface WorkerLog {
  /** Writes one line. */
  write(level: LogLevel, event: string, fields?: LogFields): void;
  /** Writes the line of a worker event: its type as the event, task id and name as fields. */
  event(event: DingoEvent): void;
}

/** Creates a log writing lines in `format` to `out`. */
export function createWorkerLog(format: LogFormat, out: (line: string) => void): WorkerLog {
  const write = (level: LogLevel, event: string, fields: LogFields = {}): void => {
    const time = new Date().toISOString();
    if (format === "json") {
      out(`${JSON.stringify({ time, level, event, ...fields })}\n`);
      return;
    }
    let line = `${time} ${level.padEnd(5)} ${event}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      const text = String(value);
      line += ` ${key}=${/^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)}`;
    }
    out(`${line}\n`);
  };
  return {
    write,
    event(event) {
      const [level, fields] = describe(event);
      write(level, event.type, fields);
    },
  };
}

function describe(event: DingoEvent): [LogLevel, LogFields] {
  switch (event.type) {
    case "task-published":
      return ["info", { name: event.name, id: event.taskId, queue: event.queue }];
    case "task-received":
      return ["info", { name: event.name, id: event.taskId, attempt: event.attempt }];
    case "task-succeeded":
      return [
        "info",
        { name: event.name, id: event.taskId, attempt: event.attempt, duration_ms: round(event.durationMs) },
      ];
    case "task-failed":
      return ["warn", attemptFailed(event)];
    case "task-retried":
      return ["warn", { ...attemptFailed(event), next_attempt_at: new Date(event.nextAttemptAtMs).toISOString() }];
    case "task-cancelled":
      return ["info", { name: event.name, id: event.taskId }];
    case "task-dead-lettered":
      return ["error", { name: event.name, id: event.taskId, queue: event.queue, reason: event.reason }];
    case "transport-error":
      return ["error", { operation: event.operation, error: errorText(event.error) }];
  }
}

/** The fields of a failed attempt, whether it is retried or not. */
function attemptFailed(event: Extract<DingoEvent, { type: "task-failed" | "task-retried" }>): LogFields {
  const { name, taskId: id, attempt, error, durationMs } = event;
  const duration = durationMs === undefined ? {} : { duration_ms: round(durationMs) };
  return { name, id, attempt, code: error.code, error: error.rawMessage, ...duration };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** One line about an error: its code when it is a TaskError, then its message. */
export function errorText(error: unknown): string {
  if (error instanceof TaskError) return `${error.code}: ${error.rawMessage}`;
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
