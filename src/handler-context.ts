import type { ProgressUpdate } from "./envelope.js";

/**
 * What a handler knows about the task it runs, passed as its second argument.
 *
 * @example
 * ```ts
 * async countPrimes(request, context) {
 *   for (let n = 2; n < request.limit; n++) {
 *     context.signal.throwIfAborted();
 *     if (n % 1000 === 0) await context.progress({ percent: (100 * n) / request.limit });
 *   }
 * }
 * ```
 */
export interface HandlerContext {
  /** Id of the task, the same for every attempt. */
  readonly taskId: string;
  /** Full task name, `<package>.<Service>/<Method>`. */
  readonly taskName: string;
  /** This attempt's number, 1-based. */
  readonly attempt: number;
  /** How many attempts the task has in all. */
  readonly maxAttempts: number;
  /** Headers the caller sent (trace context, metadata). */
  readonly headers: Readonly<Record<string, string>>;
  /** The task's deadline, Unix epoch ms, or undefined if it has none. */
  readonly deadlineMs: number | undefined;
  /** Id of the worker running the task. */
  readonly workerId: string;
  /**
   * Fires when the task must stop: its deadline or per-attempt timeout passed
   * (reason: a `deadline_exceeded` TaskError), the caller cancelled it
   * (`cancelled`), or the worker is shutting down (`unavailable`).
   */
  readonly signal: AbortSignal;
  /**
   * Reports progress to the caller (if it asked for progress reports). Resolves once
   * sent. Never rejects: a failure to send is reported as a `transport-error` event.
   */
  progress(update: ProgressUpdate): Promise<void>;
}
