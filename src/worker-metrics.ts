/**
 * Prometheus metrics of workers, on prom-client: the subpath `dingo-ts/metrics`, the
 * only entry that loads prom-client.
 */
import { Counter, Gauge, register as globalRegistry, Histogram, type Registry } from "prom-client";
import type { DingoEvent } from "./dingo-event.js";
import type { QueueAdmin } from "./transport/queue-admin.js";
import type { Worker } from "./worker.js";

/** Options of {@link createWorkerMetrics}. */
export interface WorkerMetricsOptions {
  /** Where the metrics are registered. Default: prom-client's global registry (`register`). */
  readonly registry?: Registry;
  /** Prefix of every metric name. Default: `dingo_`. */
  readonly prefix?: string;
  /** Upper bounds of the duration histogram's buckets, in seconds. Default: prom-client's (5 ms … 10 s). */
  readonly durationBuckets?: readonly number[];
}

/** What {@link WorkerMetrics.observe} needs of a worker. */
export type ObservedWorker = Pick<Worker, "events" | "inFlight">;

/** The metrics of {@link createWorkerMetrics}, fed by the workers it observes. */
export interface WorkerMetrics {
  /** The registry the metrics are in: serve `await registry.metrics()` on `/metrics`. */
  readonly registry: Registry;
  /**
   * Counts the events of `worker` and adds its tasks in flight to the gauge, until the
   * returned function is called (calling it twice is harmless).
   */
  observe(worker: ObservedWorker): () => void;
  /**
   * Reports the waiting tasks of `queues` in the queue-depth gauge, read from `admin` (a
   * transport's `admin`) at each scrape, until the returned function is called. A queue
   * whose count cannot be read at a scrape (broker unreachable) has no sample in it.
   */
  observeQueues(admin: QueueAdmin, queues: readonly string[]): () => void;
}

/**
 * Registers the worker metrics in a registry; `observe(worker)` feeds them.
 *
 * | Metric | Type | Labels |
 * |---|---|---|
 * | `dingo_tasks_received_total` | counter | `task` |
 * | `dingo_tasks_succeeded_total` | counter | `task` |
 * | `dingo_tasks_failed_total` | counter | `task`, `code` |
 * | `dingo_tasks_retried_total` | counter | `task`, `code` |
 * | `dingo_tasks_dead_lettered_total` | counter | `task`, `queue` |
 * | `dingo_task_duration_seconds` | histogram: handler start to recorded outcome | `task`, `outcome` (`succeeded`, `failed`, `retried`) |
 * | `dingo_tasks_in_flight` | gauge: tasks held by the observed workers, running or being recorded | |
 * | `dingo_queue_waiting_tasks` | gauge: tasks waiting in a queue (ready, not delivered), read from the broker at each scrape | `queue` |
 *
 * `task` is the full task name (`example.v1.MathTasks/Add`); a dead letter whose envelope
 * did not decode has `task=""`. The queue-depth gauge has the queues given to
 * `observeQueues` (`dingo worker --metrics-port`: the queues it serves); each scrape costs
 * one broker round trip per queue or so (see `QueueAdmin.stats`).
 *
 * @example
 * ```ts
 * const metrics = createWorkerMetrics({ registry: new Registry() });
 * metrics.observe(worker);
 * const text = await metrics.registry.metrics();
 * ```
 */
export function createWorkerMetrics(options: WorkerMetricsOptions = {}): WorkerMetrics {
  const registry = options.registry ?? globalRegistry;
  const prefix = options.prefix ?? "dingo_";
  const registers = [registry];
  const received = new Counter({
    name: `${prefix}tasks_received_total`,
    help: "Tasks whose handler was started, by task name.",
    labelNames: ["task"],
    registers,
  });
  const succeeded = new Counter({
    name: `${prefix}tasks_succeeded_total`,
    help: "Tasks that succeeded, by task name.",
    labelNames: ["task"],
    registers,
  });
  const failed = new Counter({
    name: `${prefix}tasks_failed_total`,
    help: "Tasks that failed for good, by task name and error code.",
    labelNames: ["task", "code"],
    registers,
  });
  const retried = new Counter({
    name: `${prefix}tasks_retried_total`,
    help: "Failed attempts whose task was scheduled again, by task name and error code.",
    labelNames: ["task", "code"],
    registers,
  });
  const cancelled = new Counter({
    name: `${prefix}tasks_cancelled_total`,
    help: "Tasks that ended cancelled here: aborted while running, or skipped when delivered, by task name.",
    labelNames: ["task"],
    registers,
  });
  const deadLettered = new Counter({
    name: `${prefix}tasks_dead_lettered_total`,
    help: "Tasks moved to a dead-letter queue, by task name and queue.",
    labelNames: ["task", "queue"],
    registers,
  });
  const duration = new Histogram({
    name: `${prefix}task_duration_seconds`,
    help: "From the handler's start to the recorded outcome, by task name and outcome.",
    labelNames: ["task", "outcome"],
    ...(options.durationBuckets === undefined ? {} : { buckets: [...options.durationBuckets] }),
    registers,
  });
  const workers = new Set<ObservedWorker>();
  new Gauge({
    name: `${prefix}tasks_in_flight`,
    help: "Tasks held by the workers: running, or having their outcome recorded.",
    registers,
    collect() {
      let total = 0;
      for (const worker of workers) total += worker.inFlight;
      this.set(total);
    },
  });
  const queueSources = new Set<{ readonly admin: QueueAdmin; readonly queues: readonly string[] }>();
  new Gauge({
    name: `${prefix}queue_waiting_tasks`,
    help: "Tasks waiting in the queue (ready, not yet delivered), read from the broker at each scrape.",
    labelNames: ["queue"],
    registers,
    async collect() {
      const reads = [...queueSources].flatMap(({ admin, queues }) =>
        queues.map((queue) => admin.stats(queue).then((stats) => stats.waiting)),
      );
      const labels = [...queueSources].flatMap(({ queues }) => queues);
      const counts = await Promise.allSettled(reads);
      // A failed read leaves no sample rather than a stale one; the scrape itself succeeds.
      this.reset();
      counts.forEach((count, index) => {
        if (count.status === "fulfilled") this.set({ queue: labels[index] as string }, count.value);
      });
    },
  });
  const count = (event: DingoEvent): void => {
    switch (event.type) {
      case "task-received":
        received.inc({ task: event.name });
        return;
      case "task-succeeded":
        succeeded.inc({ task: event.name });
        duration.observe({ task: event.name, outcome: "succeeded" }, event.durationMs / 1000);
        return;
      case "task-failed":
        failed.inc({ task: event.name, code: event.error.code });
        if (event.durationMs !== undefined) {
          duration.observe({ task: event.name, outcome: "failed" }, event.durationMs / 1000);
        }
        return;
      case "task-retried":
        retried.inc({ task: event.name, code: event.error.code });
        duration.observe({ task: event.name, outcome: "retried" }, event.durationMs / 1000);
        return;
      case "task-cancelled":
        cancelled.inc({ task: event.name });
        return;
      case "task-dead-lettered":
        deadLettered.inc({ task: event.name, queue: event.queue });
        return;
      default:
        return;
    }
  };
  return {
    registry,
    observe(worker) {
      workers.add(worker);
      const unsubscribe = worker.events.subscribe(count);
      return () => {
        unsubscribe();
        workers.delete(worker);
      };
    },
    observeQueues(admin, queues) {
      const source = { admin, queues: [...queues] };
      queueSources.add(source);
      return () => {
        queueSources.delete(source);
      };
    },
  };
}
