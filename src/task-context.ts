import type { ProgressUpdate, TaskEnvelope } from "./envelope.js";
import type { Execution } from "./execution.js";
import type { HandlerContext } from "./handler-context.js";

/**
 * The {@link HandlerContext} of one attempt. A class rather than an object literal:
 * one is made per task, and a literal with a getter and a closure is several times
 * slower to create than an instance whose accessors live on the prototype.
 */
export class TaskContext implements HandlerContext {
  readonly taskId: string;
  readonly taskName: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly deadlineMs: number | undefined;

  constructor(
    task: TaskEnvelope,
    readonly workerId: string,
    private readonly execution: Execution,
    /** Sends a progress report, or does nothing if the caller does not want them. Never rejects. */
    private readonly sendProgress: ((update: ProgressUpdate) => Promise<void>) | undefined,
  ) {
    this.taskId = task.id;
    this.taskName = task.name;
    this.attempt = task.attempt;
    this.maxAttempts = Math.max(1, task.retry?.maxAttempts ?? 1);
    this.headers = task.headers;
    this.deadlineMs = task.deadlineMs > 0 ? task.deadlineMs : undefined;
  }

  get signal(): AbortSignal {
    return this.execution.signal;
  }

  async progress(update: ProgressUpdate): Promise<void> {
    if (this.sendProgress === undefined || this.execution.aborted) return;
    await this.sendProgress(update);
  }
}
