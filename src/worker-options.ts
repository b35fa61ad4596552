import type { EventBus } from "./event-bus.js";
import type { Tracing } from "./tracing.js";

/** Options of {@link createWorker}. */
export interface WorkerOptions {
  /** Most handlers running at once. Default: 16. */
  readonly concurrency?: number;
  /** Id of this worker in reports and events. Default: `<hostname>-<pid>-<random>`. */
  readonly id?: string;
  /** Receives the worker's events; default: a bus of its own, at `worker.events`. */
  readonly events?: EventBus;
  /**
   * A task delivered more often than this without an outcome (its workers kept dying)
   * fails with `aborted` and is dead-lettered instead of looping forever. Default: 10.
   */
  readonly maxDeliveries?: number;
  /**
   * Runs every handler inside a span continued from the caller's trace context (the
   * task's `traceparent` header): `otelTracing()` from `dingo-ts/tracing`. Default: none.
   */
  readonly tracing?: Tracing;
}

/** Options of {@link Worker.close}. */
export interface WorkerCloseOptions {
  /**
   * How long to wait for running handlers, ms. When it passes, their signals abort
   * (reason: `unavailable`) and their tasks are given back to the broker for another
   * worker. Default: wait as long as they take.
   */
  readonly timeoutMs?: number;
}
