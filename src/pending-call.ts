import { LazyPromise } from "./lazy-promise.js";
import type { MessageCodec } from "./message-codec.js";
import type { TaskCall } from "./task-call.js";
import type { TaskError } from "./task-error.js";
import { taskKey } from "./task-key.js";
import type { FinalReport, ReportBase, TaskReport } from "./task-report.js";

/** What the owner of a call sees of it, whatever its response type. */
export interface HostedCall {
  readonly id: string;
  readonly name: string;
  /** The task key, `<name>/<id>`. */
  readonly key: string;
  readonly resultTtlMs: number;
  settleLocally(status: "failure" | "cancelled", error: TaskError): void;
}

/** What a pending call needs from the caller that owns it. */
export interface PendingCallHost {
  /** Cancels the task on the transport; resolves true if the cancellation won. */
  cancel(call: HostedCall, reason: string): Promise<boolean>;
  /** The call has settled; forget it. */
  release(call: HostedCall): void;
}

/**
 * The state of one call, and the {@link TaskCall} handle users hold. It orders the
 * reports (nothing before `sent`, nothing after the final one) and settles the
 * result exactly once.
 */
export class PendingCall<Res> implements TaskCall<Res>, HostedCall {
  /** Made on first access of `sent` / `result`, from the state at that time. */
  private sentOutcome: LazyPromise<void> | undefined;
  private resultOutcome: LazyPromise<Res> | undefined;
  private readonly history: TaskReport<Res>[] = [];
  private wakeReaders: (() => void)[] | undefined;
  private sentSeen = false;
  private final: FinalReport<Res> | undefined;
  private cleanups: (() => void)[] | undefined;

  constructor(
    readonly id: string,
    readonly name: string,
    readonly response: MessageCodec<Res>,
    private readonly host: PendingCallHost,
    /** The task's result retention (0: the store's default); a cancellation is kept as long. */
    readonly resultTtlMs = 0,
  ) {}

  /** The task key; computed on demand, as only claims and cancellations need it. */
  get key(): string {
    return taskKey(this.name, this.id);
  }

  get sent(): Promise<void> {
    if (this.sentOutcome === undefined) {
      this.sentOutcome = new LazyPromise<void>();
      if (this.sentSeen) this.sentOutcome.resolve();
      else if (this.final !== undefined && this.final.status !== "success") this.sentOutcome.reject(this.final.error);
    }
    return this.sentOutcome.promise;
  }

  get result(): Promise<Res> {
    if (this.resultOutcome === undefined) {
      this.resultOutcome = new LazyPromise<Res>();
      const final = this.final;
      if (final?.status === "success") this.resultOutcome.resolve(final.response);
      else if (final !== undefined) this.resultOutcome.reject(final.error);
    }
    return this.resultOutcome.promise;
  }

  /** Whether the final report has arrived. */
  get settled(): boolean {
    return this.final !== undefined;
  }

  // biome-ignore lint/suspicious/noThenProperty: the handle is awaitable by design (`await math.add(…)`).
  then<A = Res, B = never>(
    onFulfilled?: ((value: Res) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.result.then(onFulfilled, onRejected);
  }

  async *reports(): AsyncIterableIterator<TaskReport<Res>> {
    let next = 0;
    for (;;) {
      while (next < this.history.length) {
        const report = this.history[next++] as TaskReport<Res>;
        yield report;
      }
      if (this.final !== undefined) return;
      await new Promise<void>((resolve) => {
        this.wakeReaders ??= [];
        this.wakeReaders.push(resolve);
      });
    }
  }

  cancel(reason = "cancelled by the caller"): Promise<boolean> {
    // After a worker's outcome there is nothing to cancel. After a local one (the
    // caller's timeout) the task may still be queued or running: cancel it.
    if (this.final !== undefined && this.final.workerId !== "") return Promise.resolve(false);
    return this.host.cancel(this, reason);
  }

  /** Registers work to undo when the call settles (timers, abort listeners). */
  onSettle(cleanup: () => void): void {
    if (this.final !== undefined) {
      cleanup();
      return;
    }
    this.cleanups ??= [];
    this.cleanups.push(cleanup);
  }

  /** The broker accepted the task. */
  markSent(atMs: number): void {
    if (this.sentSeen || this.final !== undefined) return;
    this.sentSeen = true;
    this.sentOutcome?.resolve();
    this.push({ status: "sent", taskId: this.id, name: this.name, attempt: 0, atMs, workerId: "" });
  }

  /** The task could not be sent: settles the call with `error`. */
  failToSend(error: TaskError): void {
    this.settleLocally("failure", error);
  }

  /** A report for this call arrived (from a worker, the result store, or the caller itself). */
  deliver(report: TaskReport<Res>): void {
    if (this.final !== undefined) return;
    // A worker's report proves the broker accepted the task even if the publish
    // confirmation is still on its way: keep `sent` first.
    if (!this.sentSeen) this.markSent(report.atMs);
    if (report.status === "success" || report.status === "failure" || report.status === "cancelled") {
      this.settle(report);
    } else if (report.status !== "sent") {
      this.push(report);
    }
  }

  /** Settles the call here without a report from elsewhere (timeout, cancel, send failure). */
  settleLocally(status: "failure" | "cancelled", error: TaskError): void {
    // Not through deliver(): a local outcome proves nothing about the broker, so no
    // `sent` is inferred from it.
    this.settle({ status, ...this.localBase(), error });
  }

  private localBase(): ReportBase {
    return { taskId: this.id, name: this.name, attempt: 0, atMs: Date.now(), workerId: "" };
  }

  private settle(report: FinalReport<Res>): void {
    if (this.final !== undefined) return;
    this.final = report;
    if (!this.sentSeen && report.status !== "success") this.sentOutcome?.reject(report.error);
    this.push(report);
    if (report.status === "success") this.resultOutcome?.resolve(report.response);
    else this.resultOutcome?.reject(report.error);
    const cleanups = this.cleanups;
    this.cleanups = undefined;
    if (cleanups !== undefined) for (const cleanup of cleanups) cleanup();
    this.host.release(this);
  }

  private push(report: TaskReport<Res>): void {
    this.history.push(report);
    const readers = this.wakeReaders;
    if (readers === undefined) return;
    this.wakeReaders = undefined;
    for (const wake of readers) wake();
  }
}
