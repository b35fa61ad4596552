/**
 * W3C trace context through task headers, on OpenTelemetry: the subpath
 * `dingo-ts/tracing`, the only entry that loads `@opentelemetry/api` (an optional peer
 * dependency: install it to use this).
 */
import {
  type Attributes,
  type Context,
  context as contexts,
  createTraceState,
  isSpanContextValid,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import type { HandlerContext } from "./handler-context.js";
import { TaskError } from "./task-error.js";
import type { Tracing } from "./tracing.js";

/** Options of {@link otelTracing}. */
export interface OtelTracingOptions {
  /** Where worker spans are made. Default: the global provider (`trace.getTracerProvider()`). */
  readonly tracerProvider?: TracerProvider;
  /** The `messaging.system` attribute of worker spans, e.g. `"rabbitmq"`. Default: `"dingo"`. */
  readonly messagingSystem?: string;
}

/**
 * Trace context propagation for clients and workers, as their `tracing` option.
 *
 * A client with it adds `traceparent` and `tracestate` (W3C Trace Context) of the span
 * active when a task is sent to the task's headers; headers the call gives itself win.
 * A worker with it runs each handler inside a CONSUMER span named after the task, whose
 * parent is the span in those headers, with the attributes `messaging.system`,
 * `messaging.operation.type` (`process`), `messaging.message.id` (the task id),
 * `dingo.task.name`, `dingo.task.attempt` and `dingo.worker.id`. A handler that throws
 * or rejects sets the span's status to ERROR and records the exception; a handler
 * aborted (timeout, deadline, cancellation, shutdown) ends its span when it aborts.
 *
 * The format is always W3C Trace Context, whatever global propagator is configured.
 *
 * @example
 * ```ts
 * const tracing = otelTracing();
 * const client = createClient(MathTasks, transport, { tracing });
 * const worker = createWorker(transport, { tracing });
 * ```
 */
export function otelTracing(options: OtelTracingOptions = {}): Tracing {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer("dingo-ts");
  const system = options.messagingSystem ?? "dingo";
  return {
    inject(headers) {
      const spanContext = trace.getSpan(contexts.active())?.spanContext();
      if (spanContext === undefined || !isSpanContextValid(spanContext)) return;
      if (headers.traceparent !== undefined) return; // the caller's own trace context
      const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, "0");
      headers.traceparent = `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
      const state = spanContext.traceState?.serialize();
      if (state !== undefined && state !== "" && headers.tracestate === undefined) headers.tracestate = state;
    },
    runHandler(context, handler) {
      const parent = extract(context.headers, contexts.active());
      const attributes: Attributes = {
        "messaging.system": system,
        "messaging.operation.type": "process",
        "messaging.message.id": context.taskId,
        "dingo.task.name": context.taskName,
        "dingo.task.attempt": context.attempt,
        "dingo.worker.id": context.workerId,
      };
      const span = tracer.startSpan(context.taskName, { kind: SpanKind.CONSUMER, attributes }, parent);
      let result: unknown;
      try {
        result = contexts.with(trace.setSpan(parent, span), handler);
      } catch (error) {
        endWithError(span, error);
        throw error;
      }
      if (!isPromiseLike(result)) {
        span.end();
        return result;
      }
      return endWhenSettled(span, result, context);
    },
  };
}

/** Ends the span when the handler settles, or when its signal aborts first. */
function endWhenSettled(span: Span, result: PromiseLike<unknown>, context: HandlerContext): Promise<unknown> {
  let ended = false;
  const end = (error?: unknown): void => {
    if (ended) return;
    ended = true;
    context.signal.removeEventListener("abort", onAbort);
    if (error === undefined) span.end();
    else endWithError(span, error);
  };
  const onAbort = (): void => end(context.signal.reason ?? new Error("aborted"));
  context.signal.addEventListener("abort", onAbort, { once: true });
  return Promise.resolve(result).then(
    (value) => {
      end();
      return value;
    },
    (error: unknown) => {
      end(error ?? new Error("the handler rejected"));
      throw error;
    },
  );
}

function endWithError(span: Span, error: unknown): void {
  const failure = TaskError.from(error);
  span.recordException(error instanceof Error ? error : failure);
  span.setAttribute("dingo.error.code", failure.code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: `${failure.code}: ${failure.rawMessage}` });
  span.end();
}

const traceparentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The remote span context in W3C `traceparent` / `tracestate` headers, over `base`; `base` if there is none. */
function extract(headers: Readonly<Record<string, string>>, base: Context): Context {
  const traceparent = headers.traceparent;
  if (traceparent === undefined) return base;
  const match = traceparentPattern.exec(traceparent.trim());
  // Version ff is invalid; a version 00 header has exactly four fields.
  if (match === null || match[1] === "ff" || (match[1] === "00" && match[5] !== undefined)) return base;
  const spanContext = {
    traceId: match[2] as string,
    spanId: match[3] as string,
    traceFlags: Number.parseInt(match[4] as string, 16) & 1,
    isRemote: true,
    traceState: headers.tracestate === undefined ? undefined : createTraceState(headers.tracestate),
  };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(base, spanContext) : base;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}
