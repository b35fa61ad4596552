import { backoffMs } from "./backoff.js";
import type { CancellationMemory } from "./cancellation-memory.js";
import {
  decodeReport,
  decodeTask,
  encodeMessage,
  encodeProgress,
  encodeReport,
  encodeTask,
  type Failure,
  failureOf,
  type ProgressUpdate,
  type ReportEnvelope,
  ReportLevel,
  type TaskEnvelope,
  type TaskStatus,
  taskStatus,
  wireStatus,
} from "./envelope.js";
import type { EventBus } from "./event-bus.js";
import { Execution } from "./execution.js";
import type { HandlerContext } from "./handler-context.js";
import type { MessageInit } from "./message-codec.js";
import type { MethodDefinition } from "./service-definition.js";
import { TaskContext } from "./task-context.js";
import { TaskError } from "./task-error.js";
import { taskKey } from "./task-key.js";
import type { ResolvedTaskOptions } from "./task-options.js";
import type { Delivery, OutgoingTask, Transport } from "./transport/transport.js";

/** A served method: its definition, its handler and its resolved options. */
export interface Route {
  readonly method: MethodDefinition<unknown, unknown>;
  readonly handler: (request: unknown, context: HandlerContext) => unknown;
  readonly options: ResolvedTaskOptions;
}

/** What the runner needs from its worker. */
export interface TaskRunnerSettings {
  readonly transport: Transport;
  readonly workerId: string;
  readonly events: EventBus;
  readonly routes: ReadonlyMap<string, Route>;
  readonly maxDeliveries: number;
  /** The broadcast cancellations heard: whether a task must be looked up before it runs. */
  readonly cancellations: CancellationMemory;
}

const noWatchers: readonly string[] = [];
const done: Promise<void> = Promise.resolve();
const noop = (): void => {};
const noBytes = new Uint8Array(0);

/** Tasks whose broker delivered them this early are put back rather than run. */
const earlyToleranceMs = 5;

/**
 * Takes one delivery from envelope bytes to a recorded outcome: validates it, runs the
 * handler under its deadline, timeout and cancellation, records the outcome, reports
 * it, and only then settles the delivery (at least once: a crash before that point
 * leaves the task with the broker).
 */
export class TaskRunner {
  private readonly running = new Map<string, Execution>();

  constructor(private readonly settings: TaskRunnerSettings) {}

  /**
   * Processes one delivery; resolves once it is settled. Not `async`, like the rest of
   * the success path: it runs for every task, and each async frame and await costs
   * allocations that showed up as a large share of the memory transport's round trip.
   */
  process(delivery: Delivery): Promise<void> {
    let task: TaskEnvelope;
    try {
      task = decodeTask(delivery.body);
    } catch (error) {
      return this.deadLetter(delivery, undefined, `undecodable task envelope: ${messageOf(error)}`);
    }
    if (task.id === "" || task.name === "") {
      return this.deadLetter(delivery, task, "task envelope without an id or a name");
    }
    // Attempts are 1-based; a foreign caller that leaves the field unset means the first.
    if (task.attempt < 1) task.attempt = 1;
    // Computed once: every store and map below is keyed by it.
    const key = taskKey(task.name, task.id);
    const route = this.settings.routes.get(task.name);
    if (route === undefined) {
      const error = new TaskError(`no worker serves ${task.name} on queue ${delivery.queue}`, "not_found");
      return this.fail(delivery, task, key, error, { deadLetter: true });
    }
    if (delivery.deliveryCount > this.settings.maxDeliveries) {
      const error = new TaskError(
        `delivered ${delivery.deliveryCount} times without an outcome (limit ${this.settings.maxDeliveries})`,
        "aborted",
        { retryable: false },
      );
      return this.fail(delivery, task, key, error, { deadLetter: true });
    }
    if (task.notBeforeMs > Date.now() + earlyToleranceMs) {
      return delivery.retry(outgoing(task, delivery.queue));
    }
    // A first delivery of a task that cannot have been cancelled before it got here
    // cannot have an outcome yet: no result-store round trip (WIRE.md, worker step 6).
    if (delivery.deliveryCount <= 1 && !this.settings.cancellations.mayHaveBeenCancelled(key, task.createdAtMs)) {
      return this.start(delivery, task, key, route);
    }
    return this.settings.transport.results
      .lookup(key)
      .then((recorded) =>
        recorded === undefined ? this.start(delivery, task, key, route) : this.skipFinished(delivery, task, recorded),
      );
  }

  /** Starts a task that has no recorded outcome: checks its deadline and payload, then runs it. */
  private start(delivery: Delivery, task: TaskEnvelope, key: string, route: Route): Promise<void> {
    const now = Date.now();
    if (task.deadlineMs > 0 && now >= task.deadlineMs) {
      const late = new TaskError(
        `the deadline passed ${now - task.deadlineMs} ms before the task started`,
        "deadline_exceeded",
        { retryable: false },
      );
      return this.fail(delivery, task, key, late, { deadLetter: false });
    }
    let request: unknown;
    try {
      request = route.method.request.decode(task.payload);
    } catch (error) {
      const invalid = new TaskError(
        `the payload does not decode as ${route.method.requestType}: ${messageOf(error)}`,
        "invalid_argument",
        { retryable: false },
      );
      return this.fail(delivery, task, key, invalid, { deadLetter: true });
    }
    return this.run(delivery, task, key, route, request, now);
  }

  /** Aborts the handler of a cancelled task if it runs here. */
  cancel(key: string): void {
    this.running.get(key)?.abort(new TaskError("the task was cancelled", "cancelled", { retryable: false }));
  }

  /** Shutdown gave up waiting: abort every handler and give its task back to the broker. */
  abandonAll(): void {
    for (const execution of this.running.values()) {
      execution.abort(new TaskError("the worker is shutting down", "unavailable"));
    }
  }

  /**
   * Runs the handler. A handler that returns a plain value (not a promise) finished on
   * this stack: no timer, no race, no entry in `running` — nothing could have timed it
   * out or cancelled it while it ran. An asynchronous one runs under its timeout,
   * deadline and cancellation.
   */
  private run(
    delivery: Delivery,
    task: TaskEnvelope,
    key: string,
    route: Route,
    request: unknown,
    startedAt: number,
  ): Promise<void> {
    const { events, workerId } = this.settings;
    if (events.hasListeners) {
      events.emit({ type: "task-received", taskId: task.id, name: task.name, attempt: task.attempt, workerId });
    }
    this.sendReceived(task);
    const execution = new Execution();
    let result: unknown;
    try {
      result = route.handler(request, this.context(task, execution));
    } catch (thrown) {
      return this.failOrRetry(delivery, task, key, TaskError.from(thrown), startedAt);
    }
    if (!isPromiseLike(result)) return this.succeed(delivery, task, key, route, result, startedAt);
    this.running.set(key, execution);
    const timer = this.armTimeout(task, execution, startedAt);
    return execution.race(result).then(
      (value) => {
        this.stopped(key, timer);
        return this.succeed(delivery, task, key, route, value, startedAt);
      },
      (thrown: unknown) => {
        this.stopped(key, timer);
        const error = TaskError.from(execution.aborted ? execution.reason : thrown);
        // Abandoned by a shutdown: another worker takes the task.
        if (error.code === "unavailable" && execution.aborted) return delivery.release();
        return this.failOrRetry(delivery, task, key, error, startedAt);
      },
    );
  }

  /** An asynchronous handler has settled (or was aborted): stop watching it. */
  private stopped(key: string, timer: NodeJS.Timeout | undefined): void {
    clearTimeout(timer);
    this.running.delete(key);
  }

  /** Encodes the handler's result, records and reports SUCCESS, then acks. */
  private succeed(
    delivery: Delivery,
    task: TaskEnvelope,
    key: string,
    route: Route,
    result: unknown,
    startedAt: number,
  ): Promise<void> {
    let response: Uint8Array;
    try {
      // A handler of a method without response fields may return nothing.
      const init = (result ?? {}) as MessageInit<unknown>;
      response = encodeMessage(route.method.response, route.method.response.fromPartial(init));
    } catch (thrown) {
      const error = new TaskError(
        `the handler's result does not encode as ${route.method.responseType}: ${messageOf(thrown)}`,
        "internal",
        { retryable: false, cause: thrown },
      );
      return this.fail(delivery, task, key, error, { deadLetter: false, startedAt });
    }
    const report = encodeReport(this.report(task, "success", response));
    return this.settings.transport.results.settle(key, report, task.resultTtlMs).then(({ recorded, watchers }) => {
      // Lost the record to a cancellation: the caller has its outcome already.
      if (!recorded) return delivery.ack();
      const { events } = this.settings;
      if (events.hasListeners) {
        const durationMs = Date.now() - startedAt;
        events.emit({ type: "task-succeeded", taskId: task.id, name: task.name, attempt: task.attempt, durationMs });
      }
      return this.reportThenAck(delivery, task, report, watchers);
    });
  }

  private context(task: TaskEnvelope, execution: Execution): HandlerContext {
    const sendProgress = this.wants(task, "progress")
      ? async (update: ProgressUpdate): Promise<void> => {
          try {
            const report = this.report(task, "progress", encodeProgress(update));
            await this.settings.transport.reports.send(task.replyTo, encodeReport(report));
          } catch (error) {
            this.settings.events.emit({ type: "transport-error", operation: "send progress", error });
          }
        }
      : undefined;
    return new TaskContext(task, this.settings.workerId, execution, sendProgress);
  }

  /** Fires the signal at the per-attempt timeout or the deadline, whichever is first. */
  private armTimeout(task: TaskEnvelope, execution: Execution, startedAt: number): NodeJS.Timeout | undefined {
    const timeoutAt = task.timeoutMs > 0 ? startedAt + task.timeoutMs : Number.POSITIVE_INFINITY;
    const deadlineAt = task.deadlineMs > 0 ? task.deadlineMs : Number.POSITIVE_INFINITY;
    if (timeoutAt === Number.POSITIVE_INFINITY && deadlineAt === Number.POSITIVE_INFINITY) return undefined;
    // A per-attempt timeout is retryable (the next attempt may be faster); a passed
    // deadline is not (every later attempt would start after it).
    const byTimeout = timeoutAt < deadlineAt;
    return setTimeout(
      () => {
        const why = byTimeout
          ? `the attempt exceeded its ${task.timeoutMs} ms timeout`
          : "the task's deadline passed while it ran";
        execution.abort(new TaskError(why, "deadline_exceeded", { retryable: byTimeout }));
      },
      Math.max(0, Math.min(timeoutAt, deadlineAt) - startedAt),
    );
  }

  private async failOrRetry(
    delivery: Delivery,
    task: TaskEnvelope,
    key: string,
    error: TaskError,
    startedAt: number,
  ): Promise<void> {
    const maxAttempts = Math.max(1, task.retry?.maxAttempts ?? 1);
    if (error.retryable && task.retry !== undefined && task.attempt < maxAttempts) {
      // One clock reading for both times, so the report says exactly how long the wait is.
      const now = Date.now();
      const nextAttemptAtMs = now + backoffMs(task.retry, task.attempt);
      if (task.deadlineMs === 0 || nextAttemptAtMs < task.deadlineMs) {
        const next: TaskEnvelope = { ...task, attempt: task.attempt + 1, notBeforeMs: nextAttemptAtMs };
        const report = this.report(task, "retry", noBytes, failureOf(error), nextAttemptAtMs, now);
        if (this.wants(task, "retry")) await this.deliverReport(task, encodeReport(report), noWatchers);
        await delivery.retry(outgoing(next, delivery.queue));
        this.settings.events.emit({
          type: "task-retried",
          taskId: task.id,
          name: task.name,
          attempt: task.attempt,
          nextAttemptAtMs,
          error,
          durationMs: Date.now() - startedAt,
        });
        return;
      }
    }
    return this.fail(delivery, task, key, error, { deadLetter: false, startedAt });
  }

  /**
   * Records and reports a FAILURE, then acks or dead-letters the delivery. A dead letter
   * is stored before the caller hears of the failure, so that a caller who sees the
   * error finds the task among the dead letters.
   */
  private async fail(
    delivery: Delivery,
    task: TaskEnvelope,
    key: string,
    error: TaskError,
    /** `startedAt`: when the handler started, if it ran. */
    how: { deadLetter: boolean; startedAt?: number },
  ): Promise<void> {
    const report = encodeReport(this.report(task, "failure", noBytes, failureOf(error)));
    const { recorded, watchers } = await this.settings.transport.results.settle(key, report, task.resultTtlMs);
    if (recorded) {
      const { id: taskId, name, attempt } = task;
      const durationMs = how.startedAt === undefined ? undefined : Date.now() - how.startedAt;
      this.settings.events.emit({ type: "task-failed", taskId, name, attempt, error, durationMs });
    } else if (error.code === "cancelled") {
      // Aborted by a cancellation, whose record won: the task ends cancelled, here too.
      this.settings.events.emit({ type: "task-cancelled", taskId: task.id, name: task.name });
    }
    if (how.deadLetter) {
      await this.deadLetter(delivery, task, `${error.code}: ${error.rawMessage}`);
      if (recorded) await this.deliverReport(task, report, watchers);
    } else if (recorded) {
      await this.reportThenAck(delivery, task, report, watchers);
    } else {
      await delivery.ack();
    }
  }

  /**
   * The task has an outcome already (it was cancelled, finished by an earlier delivery,
   * or submitted again with the same id): do not run it, send the recorded outcome to
   * this copy's caller (who may have missed it, or be a new caller of the same id), and
   * drop the copy.
   */
  private async skipFinished(delivery: Delivery, task: TaskEnvelope, recorded: Uint8Array): Promise<void> {
    let status: TaskStatus | undefined;
    try {
      status = taskStatus(decodeReport(recorded).status);
    } catch {
      status = undefined;
    }
    if (status === "cancelled") this.settings.events.emit({ type: "task-cancelled", taskId: task.id, name: task.name });
    if (status === undefined) return delivery.ack();
    return this.reportThenAck(delivery, task, recorded, noWatchers);
  }

  private async deadLetter(delivery: Delivery, task: TaskEnvelope | undefined, reason: string): Promise<void> {
    await delivery.deadLetter(reason);
    this.settings.events.emit({
      type: "task-dead-lettered",
      queue: delivery.queue,
      reason,
      taskId: task?.id ?? "",
      name: task?.name ?? "",
    });
  }

  /**
   * Sends a recorded final report (see deliverReport), then acks the delivery: at once
   * where the transport makes an ack follow the sends issued before it
   * (`acksFollowSends`), else once the sends are done, so that a crash in between cannot
   * leave the task acked and its report lost. A failed send does not hold the ack back.
   */
  private reportThenAck(
    delivery: Delivery,
    task: TaskEnvelope,
    report: Uint8Array,
    watchers: readonly string[],
  ): Promise<void> {
    const sent = this.deliverReport(task, report, watchers);
    if (this.settings.transport.acksFollowSends !== true) return sent.then(() => delivery.ack());
    return Promise.all([sent, delivery.ack()]).then(noop);
  }

  /**
   * Sends a report whose outcome is recorded already (final, or a scheduled retry) to
   * the task's caller, if it wants it, and to `watchers`. A failure to send must not keep
   * the delivery from being settled: the record stands, and a redelivery or a repeated
   * call re-sends it (see skipFinished).
   */
  private deliverReport(task: TaskEnvelope, report: Uint8Array, watchers: readonly string[]): Promise<void> {
    const toCaller = task.replyTo !== "" && task.reportLevel !== ReportLevel.REPORT_LEVEL_NONE;
    // The common case, one caller and no watchers, without an async frame or an array.
    if (watchers.length === 0) return toCaller ? this.sendOrLog(task.replyTo, report) : done;
    const addresses = toCaller ? [task.replyTo, ...watchers] : watchers;
    return Promise.all(addresses.map((address) => this.sendOrLog(address, report))).then(noop);
  }

  /** Sends a report; a failure is reported as an event, never rejected. */
  private sendOrLog(address: string, report: Uint8Array): Promise<void> {
    return this.settings.transport.reports.send(address, report).catch(this.reportNotSent);
  }

  private readonly reportNotSent = (error: unknown): void => {
    this.settings.events.emit({ type: "transport-error", operation: "send report", error });
  };

  private send(task: TaskEnvelope, report: ReportEnvelope): Promise<void> {
    return this.settings.transport.reports.send(task.replyTo, encodeReport(report));
  }

  /** Sends an intermediate report without waiting; the transport keeps per-sender order. */
  private sendReceived(task: TaskEnvelope): void {
    if (!this.wants(task, "received")) return;
    this.send(task, this.report(task, "received")).catch(this.receivedNotSent);
  }

  private readonly receivedNotSent = (error: unknown): void => {
    this.settings.events.emit({ type: "transport-error", operation: "send received report", error });
  };

  private wants(task: TaskEnvelope, status: TaskStatus): boolean {
    if (task.replyTo === "") return false;
    switch (task.reportLevel) {
      case ReportLevel.REPORT_LEVEL_NONE:
        return false;
      case ReportLevel.REPORT_LEVEL_FINAL:
        return status === "success" || status === "failure" || status === "cancelled";
      case ReportLevel.REPORT_LEVEL_NO_PROGRESS:
        return status !== "progress";
      default:
        return true;
    }
  }

  /** A report about this attempt of `task`, from this worker, stamped now. */
  private report(
    task: TaskEnvelope,
    status: TaskStatus,
    payload: Uint8Array = noBytes,
    error: Failure | undefined = undefined,
    nextAttemptAtMs = 0,
    atMs = Date.now(),
  ): ReportEnvelope {
    // One literal in field order, not createReport's spread: a report is made for every
    // status of every task.
    return {
      taskId: task.id,
      name: task.name,
      status: wireStatus(status),
      payload,
      error,
      attempt: task.attempt,
      workerId: this.settings.workerId,
      atMs,
      nextAttemptAtMs,
    };
  }
}

/** The task, re-encoded for publishing again (a retry, or an early delivery put back). */
function outgoing(task: TaskEnvelope, deliveredFrom: string): OutgoingTask {
  // A foreign publisher may leave `queue` empty: the task goes back where it came from.
  const queue = task.queue === "" ? deliveredFrom : task.queue;
  return { id: task.id, queue, body: encodeTask(task), priority: task.priority, notBeforeMs: task.notBeforeMs };
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
