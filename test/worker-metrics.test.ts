import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { MathTasks } from "../generated/example/v1/math_dingo.js";
import { createClient, createMemoryTransport, createWorker, type DingoEvent, TaskError } from "../src/index.js";
import { createWorkerMetrics } from "../src/worker-metrics.js";

/** The value of the sample `name{labels}` in Prometheus text, or undefined if there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1], pair[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

/** Resolves with the first event of `type` on a worker's bus. */
function nextEvent(worker: { events: { subscribe(listener: (event: DingoEvent) => void): () => void } }, type: string) {
  return new Promise<DingoEvent>((resolve) => {
    const stop = worker.events.subscribe((event) => {
      if (event.type !== type) return;
      stop();
      resolve(event);
    });
  });
}

const add = "example.v1.MathTasks/Add";
const divide = "example.v1.MathTasks/Divide";
const countPrimes = "example.v1.MathTasks/CountPrimes";

describe("createWorkerMetrics", () => {
  it("counts received, succeeded, failed, retried, cancelled and dead-lettered tasks, durations and tasks in flight", async () => {
    const transport = createMemoryTransport();
    const worker = createWorker(transport);
    const metrics = createWorkerMetrics({ registry: new Registry() });
    metrics.observe(worker);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered: () => void = () => {};
    const blocked = new Promise<void>((resolve) => {
      entered = resolve;
    });
    await worker.serve(MathTasks, {
      add: ({ a, b }) => ({ sum: a + b }),
      divide: ({ dividend, divisor }) => {
        if (divisor === 0) throw new TaskError("divisor must not be zero", "invalid_argument");
        return { quotient: dividend / divisor };
      },
      async countPrimes({ limit }, context) {
        if (limit === 2) {
          // Runs until cancelled.
          return new Promise((_resolve, reject) => {
            context.signal.addEventListener("abort", () => reject(context.signal.reason));
          });
        }
        if (limit === 1) {
          entered();
          await gate;
          return { count: 0 };
        }
        if (context.attempt === 1) throw new TaskError("try again", "unavailable");
        return { count: 4 };
      },
    });
    const math = createClient(MathTasks, transport);
    for (let i = 0; i < 3; i++) await math.add({ a: i, b: 1 });
    for (let i = 0; i < 2; i++)
      await assert.rejects(math.divide({ dividend: 1, divisor: 0 }).result, { code: "invalid_argument" });
    const retried = await math.countPrimes({ limit: 10 }, { task: { maxAttempts: 2, initialBackoffMs: 1 } });
    assert.equal(retried.count, 4);
    const deadLettered = nextEvent(worker, "task-dead-lettered");
    await transport.tasks.publish({
      id: "junk",
      queue: add,
      body: new Uint8Array([0xff, 0xff, 0xff]),
      priority: 0,
      notBeforeMs: 0,
    });
    await deadLettered;

    const slow = math.countPrimes({ limit: 1 });
    await blocked;
    const during = await metrics.registry.metrics();
    assert.equal(sample(during, "dingo_tasks_in_flight"), 1);
    release();
    await slow;

    const receivedDoomed = nextEvent(worker, "task-received");
    const doomed = math.countPrimes({ limit: 2 });
    await receivedDoomed;
    const cancelledEvent = nextEvent(worker, "task-cancelled");
    assert.equal(await doomed.cancel(), true);
    await cancelledEvent;

    // The caller has its outcome a little before the worker has acked: drain first.
    await worker.close();
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, "dingo_tasks_in_flight"), 0);
    assert.equal(sample(text, "dingo_tasks_received_total", { task: add }), 3);
    assert.equal(sample(text, "dingo_tasks_received_total", { task: divide }), 2);
    assert.equal(sample(text, "dingo_tasks_received_total", { task: countPrimes }), 4);
    assert.equal(sample(text, "dingo_tasks_cancelled_total", { task: countPrimes }), 1);
    assert.equal(sample(text, "dingo_tasks_succeeded_total", { task: add }), 3);
    assert.equal(sample(text, "dingo_tasks_succeeded_total", { task: countPrimes }), 2);
    assert.equal(sample(text, "dingo_tasks_succeeded_total", { task: divide }), undefined);
    assert.equal(sample(text, "dingo_tasks_failed_total", { task: divide, code: "invalid_argument" }), 2);
    assert.equal(sample(text, "dingo_tasks_retried_total", { task: countPrimes, code: "unavailable" }), 1);
    assert.equal(sample(text, "dingo_tasks_dead_lettered_total", { task: "", queue: add }), 1);
    assert.equal(sample(text, "dingo_task_duration_seconds_count", { task: add, outcome: "succeeded" }), 3);
    assert.equal(sample(text, "dingo_task_duration_seconds_count", { task: divide, outcome: "failed" }), 2);
    assert.equal(sample(text, "dingo_task_duration_seconds_count", { task: countPrimes, outcome: "retried" }), 1);
    assert.equal(
      sample(text, "dingo_task_duration_seconds_bucket", { task: add, outcome: "succeeded", le: "+Inf" }),
      3,
    );
    await transport.close();
  });

  it("stops counting a worker once unobserved, and takes a prefix", async () => {
    const transport = createMemoryTransport();
    const worker = createWorker(transport);
    const metrics = createWorkerMetrics({ registry: new Registry(), prefix: "app_" });
    const stop = metrics.observe(worker);
    await worker.serve(MathTasks, {
      add: ({ a, b }) => ({ sum: a + b }),
      divide: () => ({ quotient: 0 }),
      countPrimes: () => ({}),
    });
    const math = createClient(MathTasks, transport);
    await math.add({ a: 1, b: 1 });
    stop();
    stop();
    await math.add({ a: 1, b: 1 });
    await worker.close();
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, "app_tasks_succeeded_total", { task: add }), 1);
    assert.equal(sample(text, "app_tasks_in_flight"), 0);
    await transport.close();
  });
});
