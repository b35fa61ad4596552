import type { CallOptions, ReportSelection } from "./call-options.js";
import {
  createReport,
  decodeReport,
  encodeMessage,
  encodeReport,
  encodeTask,
  failureOf,
  ReportLevel,
  type RetryPolicy,
  type TaskEnvelope,
  wireStatus,
} from "./envelope.js";
import type { EventBus } from "./event-bus.js";
import type { MessageInit } from "./message-codec.js";
import { type HostedCall, PendingCall, type PendingCallHost } from "./pending-call.js";
import { PendingCalls } from "./pending-calls.js";
import { reportFromEnvelope } from "./report-from-envelope.js";
import type { MethodDefinition } from "./service-definition.js";
import { TaskError } from "./task-error.js";
import type { ResolvedTaskOptions } from "./task-options.js";
import { type Tracing, tracedHeaders } from "./tracing.js";
import type { Inbox, Transport } from "./transport/transport.js";

/** What one client contributes to a call. */
export interface CallSettings {
  readonly events: EventBus;
  readonly generateId: () => string;
  /**
   * Whether generated ids may repeat (a user-supplied generator): then every call claims
   * its task key, as calls with an explicit id do. Random UUIDs cannot collide, so calls
   * with them skip the claim and its round trip.
   */
  readonly idsMayRepeat: boolean;
  readonly maxPayloadBytes: number;
  readonly tracing: Tracing | undefined;
}

const reportLevels: Readonly<Record<ReportSelection, ReportLevel>> = {
  all: ReportLevel.REPORT_LEVEL_ALL,
  "no-progress": ReportLevel.REPORT_LEVEL_NO_PROGRESS,
  final: ReportLevel.REPORT_LEVEL_FINAL,
  none: ReportLevel.REPORT_LEVEL_NONE,
};

const callers = new WeakMap<Transport, Caller>();

/** Everything needed to send the task of one call. */
interface OutgoingCall {
  readonly call: PendingCall<unknown>;
  readonly method: MethodDefinition<unknown, unknown>;
  readonly options: ResolvedTaskOptions;
  readonly payload: Uint8Array;
  readonly callOptions: CallOptions;
  readonly settings: CallSettings;
}

/**
 * The caller side of one transport: publishes tasks, owns the one inbox all clients of
 * the transport share, and routes each incoming report to its pending call.
 */
export class Caller implements PendingCallHost {
  /** Calls waiting for reports. Several calls of one task share its outcome. */
  private readonly pending = new PendingCalls();
  private readonly listeners = new Set<EventBus>();
  private inbox: Promise<Inbox> | undefined;
  /** The inbox address once known, so that calls after the first need no await for it. */
  private inboxAddress = "";

  private constructor(private readonly transport: Transport) {}

  /** The caller of a transport, made on first use. */
  static of(transport: Transport): Caller {
    let caller = callers.get(transport);
    if (caller === undefined) {
      caller = new Caller(transport);
      callers.set(transport, caller);
    }
    return caller;
  }

  /** Lets a client's event bus hear about transport errors of the shared inbox. */
  attach(events: EventBus): void {
    this.listeners.add(events);
  }

  /** Starts a call and returns its handle at once. */
  call<Req, Res>(
    method: MethodDefinition<Req, Res>,
    options: ResolvedTaskOptions,
    request: MessageInit<Req>,
    callOptions: CallOptions,
    settings: CallSettings,
  ): PendingCall<Res> {
    const id = callOptions.id ?? settings.generateId();
    const call = new PendingCall<Res>(id, method.taskName, method.response, this, options.resultTtlMs);
    const signal = callOptions.signal;
    if (signal?.aborted) {
      call.settleLocally("cancelled", TaskError.from(signal.reason, "cancelled"));
      return call;
    }
    if (this.pending.has(method.taskName, id)) {
      // The same task is pending in this process: share its outcome, send nothing.
      this.pending.add(call as PendingCall<unknown>);
      this.watch(call, callOptions, settings);
      return call;
    }
    let payload: Uint8Array;
    try {
      payload = encodeMessage(method.request, method.request.fromPartial(request));
    } catch (error) {
      call.failToSend(TaskError.from(error, "invalid_argument"));
      return call;
    }
    if (payload.length > settings.maxPayloadBytes) {
      call.failToSend(
        new TaskError(
          `request of ${payload.length} bytes exceeds the limit of ${settings.maxPayloadBytes} bytes`,
          "resource_exhausted",
          { retryable: false },
        ),
      );
      return call;
    }
    this.pending.add(call as PendingCall<unknown>);
    this.watch(call, callOptions, settings);
    const claim = callOptions.id !== undefined || settings.idsMayRepeat;
    const outgoing: OutgoingCall = {
      call: call as PendingCall<unknown>,
      method: method as MethodDefinition<unknown, unknown>,
      options,
      payload,
      callOptions,
      settings,
    };
    this.send(outgoing, claim).catch((error: unknown) => {
      call.failToSend(TaskError.from(error, "unavailable"));
    });
    return call;
  }

  /** Arms the call's own timeout and abort signal. */
  private watch<Res>(call: PendingCall<Res>, callOptions: CallOptions, settings: CallSettings): void {
    const signal = callOptions.signal;
    const timeoutMs = callOptions.timeoutMs ?? 0;
    if (timeoutMs > 0) {
      const timer = setTimeout(() => {
        call.settleLocally("failure", new TaskError(`no outcome within ${timeoutMs} ms`, "deadline_exceeded"));
      }, timeoutMs);
      call.onSettle(() => clearTimeout(timer));
    }
    if (signal !== undefined) {
      const onAbort = (): void => {
        call.cancel(abortReason(signal)).catch((error: unknown) => {
          settings.events.emit({ type: "transport-error", operation: "cancel", error });
          call.settleLocally("cancelled", TaskError.from(signal.reason, "cancelled"));
        });
      };
      signal.addEventListener("abort", onAbort, { once: true });
      call.onSettle(() => signal.removeEventListener("abort", onAbort));
    }
  }

  async cancel(call: HostedCall, reason: string): Promise<boolean> {
    const error = new TaskError(reason, "cancelled", { retryable: false });
    const report = encodeReport(
      createReport({
        taskId: call.id,
        name: call.name,
        status: wireStatus("cancelled"),
        attempt: 0,
        error: failureOf(error),
      }),
    );
    const key = call.key;
    const { recorded, watchers } = await this.transport.results.settle(key, report, call.resultTtlMs);
    if (!recorded) {
      // The task finished first. Its outcome is recorded: settle from it, in case its
      // report has not arrived (or never will).
      const recorded = await this.transport.results.lookup(key);
      if (recorded !== undefined) this.route(recorded);
      return false;
    }
    call.settleLocally("cancelled", error);
    // Workers abort the handler if it is running, and skip the task if it is queued.
    // The recorded outcome above makes them skip it even if they miss this broadcast,
    // so a failed broadcast does not undo the cancellation.
    // Callers elsewhere that attached to the task are owed the outcome too.
    const deliveries = [
      this.transport.reports.broadcast(report),
      ...watchers.map((address) => this.transport.reports.send(address, report)),
    ];
    for (const outcome of await Promise.allSettled(deliveries)) {
      if (outcome.status === "rejected") {
        this.emitAll({ type: "transport-error", operation: "broadcast cancellation", error: outcome.reason });
      }
    }
    return true;
  }

  release(call: HostedCall): void {
    this.pending.remove(call as PendingCall<unknown>);
  }

  /**
   * Publishes the task (claiming its key first if the id was chosen by the user). Not an
   * `async` function: the common path (inbox open, no claim) returns the publish promise
   * with one reaction, which matters because it runs for every call.
   */
  private send(outgoing: OutgoingCall, claim: boolean): Promise<void> {
    const { callOptions } = outgoing;
    const selection = callOptions.reports ?? "final";
    if (selection !== "none" && this.inboxAddress === "") {
      return this.openInbox().then(() => this.send(outgoing, claim));
    }
    const replyTo = selection === "none" ? "" : this.inboxAddress;
    if (claim) return this.claimThenPublish(outgoing, replyTo);
    return this.publish(outgoing, replyTo);
  }

  /** A caller-chosen id may name a task that exists already: attach to it instead of running it twice. */
  private async claimThenPublish(outgoing: OutgoingCall, replyTo: string): Promise<void> {
    const { call, callOptions, options } = outgoing;
    const now = Date.now();
    // The claim outlives the delay by the result retention.
    const delayMs = Math.max(0, startTime(callOptions, now) - now);
    const claimed = await this.transport.results.claim(call.key, replyTo, delayMs + options.resultTtlMs);
    if (claimed.status === "claimed") {
      return this.publish(outgoing, replyTo);
    }
    call.markSent(Date.now());
    // settled: the recorded outcome is the answer. pending: it will be sent to our inbox.
    if (claimed.status === "settled") this.route(claimed.report);
  }

  private publish(outgoing: OutgoingCall, replyTo: string): Promise<void> {
    const { call, method, options, payload, callOptions, settings } = outgoing;
    if (call.settled) return done; // timed out or cancelled while the inbox opened
    const selection = callOptions.reports ?? "final";
    const now = Date.now();
    const notBeforeMs = startTime(callOptions, now);
    const task: TaskEnvelope = {
      id: call.id,
      name: method.taskName,
      payload,
      attempt: 1,
      createdAtMs: now,
      replyTo,
      reportLevel: reportLevels[selection],
      priority: options.priority,
      queue: options.queue,
      notBeforeMs,
      deadlineMs: timeOf(callOptions.deadline),
      timeoutMs: options.timeoutMs,
      retry: retryPolicyOf(options),
      resultTtlMs: options.resultTtlMs,
      headers:
        settings.tracing !== undefined
          ? tracedHeaders(settings.tracing, callOptions.headers)
          : callOptions.headers === undefined
            ? noHeaders
            : lowerCaseKeys(callOptions.headers),
    };
    const body = encodeTask(task);
    return this.transport.tasks
      .publish({ id: call.id, queue: options.queue, body, priority: options.priority, notBeforeMs })
      .then(() => {
        call.markSent(Date.now());
        if (settings.events.hasListeners) {
          settings.events.emit({ type: "task-published", taskId: call.id, name: call.name, queue: options.queue });
        }
        if (selection === "none") {
          const why = 'the call asked for no reports (reports: "none"), so its outcome is not awaited';
          call.settleLocally("failure", new TaskError(why, "failed_precondition", { retryable: false }));
        }
      });
  }

  private openInbox(): Promise<string> {
    this.inbox ??= this.transport.reports.openInbox({
      onReport: (bytes) => this.route(bytes),
      onError: (error) => this.emitAll({ type: "transport-error", operation: "inbox", error }),
      onGap: () => this.recoverOutcomes(),
    });
    return this.inbox.then(
      (inbox) => {
        this.inboxAddress = inbox.address;
        return inbox.address;
      },
      (error: unknown) => {
        // Let the next call try again instead of failing forever.
        this.inbox = undefined;
        throw error;
      },
    );
  }

  /**
   * The inbox may have lost reports: settle every pending call whose outcome is recorded
   * from the record. Calls whose tasks have not finished get their reports as usual.
   */
  private recoverOutcomes(): void {
    const keys = new Set<string>();
    for (const call of this.pending.all()) keys.add(call.key);
    for (const key of keys) {
      this.transport.results.lookup(key).then(
        (recorded) => {
          if (recorded !== undefined) this.route(recorded);
        },
        (error: unknown) => this.emitAll({ type: "transport-error", operation: "recover outcomes", error }),
      );
    }
  }

  private route(bytes: Uint8Array): void {
    let envelope: ReturnType<typeof decodeReport>;
    try {
      envelope = decodeReport(bytes);
    } catch (error) {
      this.emitAll({ type: "transport-error", operation: "decode report", error });
      return;
    }
    // No call: it settled already (timeout, cancel) or is not ours. Nobody waits for it.
    this.pending.forEach(envelope.name, envelope.taskId, (call) => {
      const report = reportFromEnvelope(envelope, call.response);
      if (report !== undefined) call.deliver(report);
    });
  }

  private emitAll(event: Parameters<EventBus["emit"]>[0]): void {
    for (const events of this.listeners) events.emit(event);
  }
}

/** When the task may start: `runAt`, else now + `delayMs`, else 0 (now). */
function startTime(options: CallOptions, now: number): number {
  if (options.runAt !== undefined) return timeOf(options.runAt);
  return options.delayMs !== undefined && options.delayMs > 0 ? now + options.delayMs : 0;
}

/** Epoch ms of a Date or number; 0 for undefined. */
function timeOf(time: Date | number | undefined): number {
  if (time === undefined) return 0;
  return typeof time === "number" ? time : time.getTime();
}

function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason.message;
  return reason === undefined ? "the call's signal was aborted" : String(reason);
}

const done: Promise<void> = Promise.resolve();

/** Headers of calls that give none; the encoder only reads them. */
const noHeaders: Record<string, string> = Object.freeze({}) as Record<string, string>;

const retryPolicies = new WeakMap<ResolvedTaskOptions, RetryPolicy | undefined>();

/** The envelope's retry policy for resolved options, made once per options object. */
function retryPolicyOf(options: ResolvedTaskOptions): RetryPolicy | undefined {
  if (retryPolicies.has(options)) return retryPolicies.get(options);
  const policy =
    options.maxAttempts > 1
      ? {
          maxAttempts: options.maxAttempts,
          initialBackoffMs: options.initialBackoffMs,
          multiplier: options.backoffMultiplier,
          maxBackoffMs: options.maxBackoffMs,
          jitter: options.backoffJitter,
        }
      : undefined;
  retryPolicies.set(options, policy);
  return policy;
}

function lowerCaseKeys(headers: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  if (headers === undefined) return result;
  for (const [key, value] of Object.entries(headers)) result[key.toLowerCase()] = value;
  return result;
}
