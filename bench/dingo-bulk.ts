/**
 * What the broker suites share about dingo itself: the handlers they serve, and the bulk
 * run (enqueue many tasks with no worker, then start one and time until every outcome
 * arrived).
 */
import { MathTasks } from "../generated/example/v1/math_dingo.js";
import { createClient, createWorker, type Transport } from "../src/index.js";

/** The trivial handlers every round-trip benchmark serves. */
export const mathHandlers = {
  add: ({ a, b }: { a: number; b: number }) => ({ sum: a + b }),
  divide: ({ dividend, divisor }: { dividend: number; divisor: number }) => ({ quotient: dividend / divisor }),
  countPrimes: () => ({}),
};

/** Figures of one bulk run. */
export interface Bulk {
  /** Tasks enqueued (accepted by the broker) per second, no worker running. */
  readonly enqueue: number;
  /** Tasks processed per second, from the worker's start to the last outcome at the caller. */
  readonly process: number;
}

/** How long one bulk run may take before it counts as hung. */
const bulkTimeoutMs = 120_000;

/** Rejects if `promise` has not settled within the bulk timeout, naming `what`. */
export function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${bulkTimeoutMs} ms`)), bulkTimeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * dingo's bulk run: `tasks` calls through `client`, then a worker of `concurrency` on
 * `worker`. The transports stay the caller's to close.
 */
export async function dingoBulk(
  client: Transport,
  worker: Transport,
  tasks: number,
  concurrency: number,
): Promise<Bulk> {
  const math = createClient(MathTasks, client);
  const serving = createWorker(worker, { concurrency });
  try {
    // The caller's inbox opens (and the queue is declared) with its first call: that one
    // is sent alone, untimed.
    const first = math.add({ a: 1, b: 2 });
    await first.sent;
    const started = performance.now();
    const calls = Array.from({ length: tasks - 1 }, () => math.add({ a: 1, b: 2 }));
    await Promise.all(calls.map((call) => call.sent));
    const enqueued = performance.now();
    calls.push(first);
    await serving.serve(MathTasks, mathHandlers);
    await withTimeout(Promise.all(calls), "dingo's bulk run");
    const processed = performance.now();
    return {
      enqueue: (tasks - 1) / ((enqueued - started) / 1000),
      process: tasks / ((processed - enqueued) / 1000),
    };
  } finally {
    await serving.close({ timeoutMs: 5000 }).catch(() => {});
  }
}
