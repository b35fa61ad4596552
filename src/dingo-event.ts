import type { TaskError } from "./task-error.js";

/**
 * Something that happened in a client or worker, for logs and metrics.
 * A discriminated union on `type`.
 */
export type DingoEvent =
  | { readonly type: "task-published"; readonly taskId: string; readonly name: string; readonly queue: string }
  | {
      readonly type: "task-received";
      readonly taskId: string;
      readonly name: string;
      readonly attempt: number;
      readonly workerId: string;
    }
  | {
      readonly type: "task-succeeded";
      readonly taskId: string;
      readonly name: string;
      readonly attempt: number;
      readonly durationMs: number;
    }
  | {
      readonly type: "task-failed";
      readonly taskId: string;
      readonly name: string;
      readonly attempt: number;
      readonly error: TaskError;
      /** From the handler's start to the recorded failure; absent when no handler ran (unknown task, bad payload, …). */
      readonly durationMs?: number;
    }
  | {
      readonly type: "task-retried";
      readonly taskId: string;
      readonly name: string;
      readonly attempt: number;
      readonly nextAttemptAtMs: number;
      readonly error: TaskError;
      /** From the handler's start to the scheduled retry. */
      readonly durationMs: number;
    }
  | { readonly type: "task-cancelled"; readonly taskId: string; readonly name: string }
  | {
      readonly type: "task-dead-lettered";
      readonly queue: string;
      readonly reason: string;
      /** Empty when the envelope could not be decoded. */
      readonly taskId: string;
      readonly name: string;
    }
  | {
      /** Something went wrong below the runtime; `operation` says what was being done. */
      readonly type: "transport-error";
      readonly operation: string;
      readonly error: unknown;
    };

/** Receives events. Must not throw (a throw is re-raised as an uncaught exception). */
export type DingoEventListener = (event: DingoEvent) => void;
