import type { TaskOptions } from "./task-options.js";

/**
 * Which reports a call receives. The final outcome always settles the call; this only
 * chooses what else flows through {@link TaskCall.reports}.
 *
 * - `"all"`: sent, received, progress, retry and the final report.
 * - `"no-progress"`: all but progress.
 * - `"final"`: sent and the final report (default). Reports beyond the outcome are
 *   opt-in, as task events are in Celery: each one is another message from the worker
 *   to the caller, which on a remote broker costs as much as the outcome itself.
 * - `"none"`: fire and forget. The worker sends nothing; the call's `sent` resolves when
 *   the broker accepted the task and its result rejects at once with
 *   `failed_precondition`. The outcome is still recorded in the result store.
 */
export type ReportSelection = "all" | "no-progress" | "final" | "none";

/** Options of one call. Every field is optional. */
export interface CallOptions {
  /** Do not start the task before this many ms from now. */
  readonly delayMs?: number;
  /** Do not start the task before this time (a Date or Unix epoch ms); wins over `delayMs`. */
  readonly runAt?: Date | number;
  /**
   * The task must not start after this time (a Date or Unix epoch ms), and a running
   * attempt is aborted when it passes; the outcome is then `deadline_exceeded`. It does
   * not bound the caller's wait on its own: use `timeoutMs` for that.
   */
  readonly deadline?: Date | number;
  /**
   * Task options for this call only, over the client's, the method's and the service's:
   * attempts, backoff, per-attempt timeout, priority, result retention.
   */
  readonly task?: Omit<TaskOptions, "queue">;
  /** The task id; default: the client's id generator (UUIDv4). */
  readonly id?: string;
  /**
   * How long the caller waits for the outcome, ms. When it passes, the call settles
   * with `deadline_exceeded`. The task itself is not cancelled: use `signal` or
   * `cancel()` for that.
   */
  readonly timeoutMs?: number;
  /** Aborting it cancels the task (as `cancel()` does) and settles the call as `cancelled`. */
  readonly signal?: AbortSignal;
  /** Headers for the worker: W3C trace context and user metadata. Keys are lower-cased. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Which reports to receive; default `"final"` (ask for `"all"` to see progress). */
  readonly reports?: ReportSelection;
}
