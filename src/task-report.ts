import type { ProgressUpdate } from "./envelope.js";
import type { TaskError } from "./task-error.js";

/** Fields every report has. */
export interface ReportBase {
  /** Id of the task. */
  readonly taskId: string;
  /** Full task name. */
  readonly name: string;
  /** Attempt the report is about (1-based; 0 for `sent`). */
  readonly attempt: number;
  /** When it was produced, Unix epoch ms. */
  readonly atMs: number;
  /** Worker that produced it; empty for reports made by the caller itself. */
  readonly workerId: string;
}

/**
 * A report about a task, typed by the method's response. A discriminated union on
 * `status`; the last report of every call is exactly one of `success`, `failure`
 * or `cancelled`.
 */
export type TaskReport<Res> =
  | (ReportBase & { readonly status: "sent" | "received" })
  | (ReportBase & { readonly status: "progress"; readonly progress: ProgressUpdate })
  | (ReportBase & { readonly status: "retry"; readonly error: TaskError; readonly nextAttemptAtMs: number })
  | (ReportBase & { readonly status: "success"; readonly response: Res })
  | (ReportBase & { readonly status: "failure" | "cancelled"; readonly error: TaskError });

/** A final report: the outcome of a task. */
export type FinalReport<Res> = Extract<TaskReport<Res>, { status: "success" | "failure" | "cancelled" }>;
