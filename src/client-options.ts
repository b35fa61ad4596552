import type { EventBus } from "./event-bus.js";
import type { TaskOptions } from "./task-options.js";
import type { Tracing } from "./tracing.js";

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** Makes task ids for calls that do not bring their own. Default: random UUIDv4s (`crypto.randomUUID`'s format, from the same CSPRNG). */
  readonly idGenerator?: () => string;
  /** Receives `task-published` and `transport-error` events. */
  readonly events?: EventBus;
  /**
   * Largest encoded request accepted, in bytes; a larger one fails the call with
   * `resource_exhausted` before anything is sent. Default: 4 MiB.
   */
  readonly maxPayloadBytes?: number;
  /**
   * Task options for every call of this client, over the service and method options.
   * Not the queue: workers consume the queues named in the `.proto` options, so a queue
   * chosen by one client would have no consumer.
   */
  readonly taskOptions?: Omit<TaskOptions, "queue">;
  /**
   * Puts the active trace context into each task's headers (`traceparent`,
   * `tracestate`), unless the call gives them itself: `otelTracing()` from
   * `dingo-ts/tracing`. Default: none.
   */
  readonly tracing?: Tracing;
}

/** Default of {@link ClientOptions.maxPayloadBytes}. */
export const defaultMaxPayloadBytes = 4 * 1024 * 1024;
