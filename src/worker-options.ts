import type { EventBus } from "./event-bus.js";
import type { Tracing } from "./tracing.js";

/** Options of {@link createWorker}. */
/**
 * The default {@link WorkerOptions.clockSkewMs}: for this long after it starts (or hears
 * broadcasts again) a worker looks every task up before running it.
 */
export const defaultClockSkewMs = 5000;

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
   * How far the clocks of callers may run ahead of this worker's, ms. Before running a
   * task the worker asks the result store whether it was cancelled, unless the task was
   * created (by its caller's clock) more than this after the worker began hearing the
   * broadcast cancellations without a break and none for it was heard: that saves a
   * round trip per task on a remote store. `Infinity` asks for every task. Default:
   * {@link defaultClockSkewMs} (5000).
   */
  readonly clockSkewMs?: number;
  /**
   * Independent pipelines to the broker, each consuming through a fork of the transport
   * (connections of its own; `Transport.fork`) with a share of the concurrency: while the
   * process handles one lane's replies, the broker works on another's commands, instead
   * of the two taking turns over one connection. At most the concurrency; a lane may hold
   * deliveries while another has free slots, so few slots per lane can leave some of the
   * concurrency unused. Transports that cannot fork (memory) use one. Default: 2 when the
   * concurrency is 16 or more, else 1.
   */
  readonly lanes?: number;
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
