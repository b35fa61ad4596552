import type { TaskReport } from "./task-report.js";

/**
 * The handle of one call: its id at once, then reports and the typed result.
 * Awaiting the handle awaits the result.
 *
 * @example
 * ```ts
 * const call = math.add({ a: 1, b: 2 });
 * console.log(call.id);
 * for await (const report of call.reports()) console.log(report.status);
 * const { sum } = await call;
 * ```
 */
export interface TaskCall<Res> extends PromiseLike<Res> {
  /** The task id, known before anything is sent. */
  readonly id: string;
  /** The full task name. */
  readonly name: string;
  /** Resolves when the broker has accepted the task (SENT); rejects if it could not be sent. */
  readonly sent: Promise<void>;
  /**
   * The response on success; rejects with a `TaskError` on failure, cancellation or the
   * caller's timeout. The same promise that awaiting the handle gives.
   */
  readonly result: Promise<Res>;
  /**
   * Every report of the call from the first (`sent`), ending after the final one.
   * Each call of `reports()` starts again from the first report.
   */
  reports(): AsyncIterableIterator<TaskReport<Res>>;
  /**
   * Cancels the task: a queued task will not run, a running one has its signal aborted,
   * and the call settles as `cancelled`. Resolves true if this cancelled it, false if
   * it had already finished.
   */
  cancel(reason?: string): Promise<boolean>;
}
