import { hostname } from "node:os";
import { CancellationMemory } from "./cancellation-memory.js";
import { decodeReport, taskStatus } from "./envelope.js";
import { createEventBus, type EventBus } from "./event-bus.js";
import type { MethodDefinition, ServiceDefinition } from "./service-definition.js";
import type { ServiceHandlers } from "./service-handlers.js";
import { TaskError } from "./task-error.js";
import { taskKey } from "./task-key.js";
import { resolveTaskOptions } from "./task-options.js";
import { type Route, TaskRunner, type TaskRunnerSettings } from "./task-runner.js";
import { type Tracing, tracedHandler } from "./tracing.js";
import type { Consumer, Delivery, Subscription, Transport } from "./transport/transport.js";
import { defaultClockSkewMs, type WorkerCloseOptions, type WorkerOptions } from "./worker-options.js";

/**
 * Runs handlers for tasks taken from a transport. `close()` (or `await using`) drains it.
 */
export interface Worker extends AsyncDisposable {
  /** This worker's id, as it appears in reports. */
  readonly id: string;
  /** The worker's events: received, succeeded, failed, retried, dead-lettered, transport errors. */
  readonly events: EventBus;
  /**
   * Tasks this worker holds now: running, or having their outcome recorded. Tasks
   * received but waiting for a free slot are not counted. For gauges (`dingo-ts/metrics`).
   */
  readonly inFlight: number;
  /**
   * Serves the methods of a service with `handlers`, consuming their queues. Resolves
   * once consuming; rejects if a task name is served already or the worker is closed.
   */
  serve<S extends ServiceDefinition>(service: S, handlers: ServiceHandlers<S>): Promise<void>;
  /**
   * Stops taking tasks, gives back tasks received but not started, and waits for running
   * handlers to finish and their outcomes to be recorded. Idempotent: later calls return
   * the same promise.
   */
  close(options?: WorkerCloseOptions): Promise<void>;
}

/**
 * Creates a worker on a transport.
 *
 * @example
 * ```ts
 * const worker = createWorker(transport, { concurrency: 8 });
 * await worker.serve(MathTasks, { add: async ({ a, b }) => ({ sum: a + b }) });
 * // …
 * await worker.close();
 * ```
 */
export function createWorker(transport: Transport, options: WorkerOptions = {}): Worker {
  return new TaskWorker(transport, options);
}

type Handler = (request: unknown, context: Parameters<Route["handler"]>[1]) => unknown;

/**
 * One pipeline of a worker to the broker: a transport (the worker's own, or a fork of it),
 * the runner that settles its deliveries through that transport, and its consumer.
 */
interface Lane {
  readonly transport: Transport;
  readonly runner: TaskRunner;
  /** A fork the worker opened, and so closes. */
  readonly forked: boolean;
  consumer: Consumer | undefined;
}

/** A delivery waiting for a free slot, with the lane it came through. */
interface Waiting {
  readonly delivery: Delivery;
  readonly lane: Lane;
}

class TaskWorker implements Worker {
  readonly id: string;
  readonly events: EventBus;
  private readonly concurrency: number;
  private readonly tracing: Tracing | undefined;
  private readonly routes = new Map<string, Route>();
  /** The latest consumer switch; the next one waits for it. */
  private consuming: Promise<void> = Promise.resolve();
  /** Lane 0 is on the worker's transport; the others, opened at the first `serve`, on forks. */
  private readonly lanes: Lane[];
  private readonly laneCount: number;
  private readonly runnerSettings: Omit<TaskRunnerSettings, "transport">;
  /** Deliveries waiting for a free slot, oldest first. */
  private readonly waiting: Waiting[] = [];
  private active = 0;
  private idle: (() => void) | undefined;
  private cancellations: Promise<Subscription> | undefined;
  private readonly cancellationMemory: CancellationMemory;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly transport: Transport,
    options: WorkerOptions,
  ) {
    this.id = options.id ?? `${hostname()}-${process.pid}-${crypto.randomUUID().slice(0, 8)}`;
    this.events = options.events ?? createEventBus();
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? 16));
    this.tracing = options.tracing;
    this.cancellationMemory = new CancellationMemory(options.clockSkewMs ?? defaultClockSkewMs);
    this.runnerSettings = {
      workerId: this.id,
      events: this.events,
      routes: this.routes,
      maxDeliveries: options.maxDeliveries ?? 10,
      cancellations: this.cancellationMemory,
    };
    // By default two lanes once each gets 8 slots: a lane with few slots may leave some of
    // the concurrency unused while the other lane's tasks wait.
    const lanes = Math.floor(options.lanes ?? Math.min(2, this.concurrency / 8));
    this.laneCount = transport.fork === undefined ? 1 : Math.max(1, Math.min(lanes, this.concurrency));
    this.lanes = [this.lane(transport, false)];
  }

  private lane(transport: Transport, forked: boolean): Lane {
    return { transport, runner: new TaskRunner({ ...this.runnerSettings, transport }), forked, consumer: undefined };
  }

  get inFlight(): number {
    return this.active;
  }

  async serve<S extends ServiceDefinition>(service: S, handlers: ServiceHandlers<S>): Promise<void> {
    if (this.closing !== undefined) throw new TaskError("the worker is closed", "failed_precondition");
    const added: Route[] = [];
    for (const [localName, method] of Object.entries(service.methods) as [
      string,
      MethodDefinition<unknown, unknown>,
    ][]) {
      const handler = (handlers as unknown as Record<string, Handler | undefined>)[localName];
      if (typeof handler !== "function") {
        throw new TaskError(`no handler for ${method.taskName} (handlers.${localName})`, "invalid_argument");
      }
      if (this.routes.has(method.taskName)) {
        throw new TaskError(`${method.taskName} is served by this worker already`, "already_exists");
      }
      added.push({
        method,
        handler: tracedHandler(this.tracing, handler.bind(handlers) as Route["handler"]),
        options: resolveTaskOptions(method.taskName, service.defaults, method.options),
      });
    }
    for (const route of added) this.routes.set(route.method.taskName, route);
    try {
      await this.listenForCancellations();
      // Serialized, so that concurrent serve() calls replace the consumer one at a time.
      const switched = this.consuming.then(() => this.consumeAllQueues());
      this.consuming = switched.catch(() => {});
      await switched;
    } catch (error) {
      for (const route of added) this.routes.delete(route.method.taskName);
      throw error;
    }
  }

  /**
   * Replaces each lane's consumer by one for the queues of every served method. One
   * consumer per lane for all of them, their prefetches adding up to the concurrency, so
   * that they bound what this worker holds in all, however many services it serves; an
   * old consumer stops after its new one runs, so no queue goes unconsumed in between.
   */
  private async consumeAllQueues(): Promise<void> {
    if (this.closing !== undefined) throw new TaskError("the worker is closed", "failed_precondition");
    while (this.lanes.length < this.laneCount) {
      const fork = this.transport.fork?.();
      if (fork === undefined) break;
      this.lanes.push(this.lane(fork, true));
    }
    const queues = [...new Set([...this.routes.values()].map((route) => route.options.queue))];
    const count = this.lanes.length;
    await Promise.all(
      this.lanes.map(async (lane, index) => {
        const next = await lane.transport.tasks.consume({
          queues,
          // The concurrency shared out: the first lanes take one more when it does not divide.
          prefetch: Math.floor(this.concurrency / count) + (index < this.concurrency % count ? 1 : 0),
          onDelivery: (delivery) => this.admit(delivery, lane),
          onError: (error) => this.events.emit({ type: "transport-error", operation: "consume", error }),
        });
        const previous = lane.consumer;
        lane.consumer = next;
        await previous?.stop();
        // close() may have started while the consumer was being set up.
        if (this.closing !== undefined) await next.stop();
      }),
    );
  }

  close(options: WorkerCloseOptions = {}): Promise<void> {
    this.closing ??= this.drain(options);
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private admit(delivery: Delivery, lane: Lane): void {
    if (this.closing !== undefined) {
      this.giveBack(delivery);
      return;
    }
    if (this.active >= this.concurrency) {
      this.waiting.push({ delivery, lane });
      return;
    }
    this.start(delivery, lane);
  }

  /** Runs a delivery on its lane's runner: its outcome goes out through the same connections. */
  private start(delivery: Delivery, lane: Lane): void {
    this.active++;
    lane.runner.process(delivery).then(this.finished, this.failedToSettle);
  }

  /** A delivery is settled: take the next waiting one, or tell close() the worker is idle. */
  private readonly finished = (): void => {
    this.active--;
    const next = this.closing === undefined ? this.waiting.shift() : undefined;
    if (next !== undefined) this.start(next.delivery, next.lane);
    else if (this.active === 0) this.idle?.();
  };

  private readonly failedToSettle = (error: unknown): void => {
    // process() settles every delivery itself; reaching here means a transport call
    // failed while settling. The broker redelivers an unsettled task, so report and go on.
    this.events.emit({ type: "transport-error", operation: "settle delivery", error });
    this.finished();
  };

  private giveBack(delivery: Delivery): void {
    delivery.release().catch((error: unknown) => {
      this.events.emit({ type: "transport-error", operation: "release delivery", error });
    });
  }

  /**
   * Cancellations are broadcast as CANCELLED reports: abort the handler if it runs here,
   * and record the cancellation in this worker's result store, so that a copy still queued
   * is skipped even where the store is not the caller's (RabbitMQ without a shared store
   * keeps results per process). Where the caller recorded it already, that is a no-op.
   */
  private async listenForCancellations(): Promise<void> {
    this.cancellations ??= this.transport.reports.subscribe({
      onReport: (bytes) => {
        try {
          const report = decodeReport(bytes);
          if (taskStatus(report.status) !== "cancelled") return;
          const key = taskKey(report.name, report.taskId);
          this.cancellationMemory.heardCancellation(key, Date.now());
          for (const lane of this.lanes) lane.runner.cancel(key);
          this.transport.results.settle(key, bytes, 0).catch((error: unknown) => {
            this.events.emit({ type: "transport-error", operation: "record cancellation", error });
          });
        } catch (error) {
          this.events.emit({ type: "transport-error", operation: "decode broadcast", error });
        }
      },
      onError: (error) => this.events.emit({ type: "transport-error", operation: "broadcast", error }),
      onLink: (up) => {
        if (up) this.cancellationMemory.listeningSince(Date.now());
        else this.cancellationMemory.deaf();
      },
    });
    try {
      await this.cancellations;
      this.cancellationMemory.listeningSince(Date.now());
    } catch (error) {
      this.cancellations = undefined;
      throw error;
    }
  }

  private async drain(options: WorkerCloseOptions): Promise<void> {
    const errors: unknown[] = [];
    // Every step runs even if an earlier one failed; the first failure is rethrown.
    const step = async (run: () => Promise<unknown>): Promise<void> => {
      try {
        await run();
      } catch (error) {
        errors.push(error);
      }
    };
    await step(async () => {
      await this.consuming;
      await Promise.all(this.lanes.map((lane) => lane.consumer?.stop()));
    });
    for (const { delivery } of this.waiting.splice(0)) this.giveBack(delivery);
    if (this.active > 0) {
      const finished = new Promise<void>((resolve) => {
        this.idle = resolve;
      });
      if (options.timeoutMs === undefined) {
        await finished;
      } else {
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<"expired">((resolve) => {
          timer = setTimeout(() => resolve("expired"), options.timeoutMs);
        });
        if ((await Promise.race([finished, expired])) === "expired") {
          for (const lane of this.lanes) lane.runner.abandonAll();
          await finished;
        }
        clearTimeout(timer);
      }
    }
    const cancellations = this.cancellations;
    if (cancellations !== undefined) await step(async () => (await cancellations).close());
    // The forks are the worker's: every delivery through them is settled by now.
    for (const lane of this.lanes) if (lane.forked) await step(() => lane.transport.close());
    if (errors.length > 0) throw errors[0];
  }
}
