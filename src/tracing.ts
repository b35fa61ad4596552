import type { HandlerContext } from "./handler-context.js";

/**
 * A tracing integration, given to {@link createClient} and {@link createWorker} as their
 * `tracing` option: the client puts the active trace context into the headers of each
 * task it publishes, and the worker runs each handler inside a span continued from them.
 *
 * The runtime itself loads no tracing library: `otelTracing()` from `dingo-ts/tracing`
 * makes one on `@opentelemetry/api`. Without the option, calls and handlers carry no
 * tracing cost at all.
 */
export interface Tracing {
  /**
   * Adds the current trace context to the headers of a task about to be published
   * (`traceparent`, `tracestate`). Keys present already are the caller's own and are
   * kept. Called where the call is sent, in its async context.
   */
  inject(headers: Record<string, string>): void;
  /**
   * Runs `handler` (the served handler, bound to its request and context) inside a span
   * whose parent is the trace context in `context.headers`, and returns what it returns
   * (a value or a promise). Errors are recorded on the span and rethrown unchanged.
   */
  runHandler(context: HandlerContext, handler: () => unknown): unknown;
}

/** `handler` run through `tracing`, or `handler` itself when there is no tracing. */
export function tracedHandler(
  tracing: Tracing | undefined,
  handler: (request: unknown, context: HandlerContext) => unknown,
): (request: unknown, context: HandlerContext) => unknown {
  if (tracing === undefined) return handler;
  return (request, context) => tracing.runHandler(context, () => handler(request, context));
}

/** The headers of a task: the call's own (keys lower-cased), plus the trace context. */
export function tracedHeaders(
  tracing: Tracing,
  headers: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  const result: Record<string, string> = {};
  if (headers !== undefined) for (const [key, value] of Object.entries(headers)) result[key.toLowerCase()] = value;
  tracing.inject(result);
  return result;
}
