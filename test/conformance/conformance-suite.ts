import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import {
  createClient,
  createEventBus,
  createWorker,
  type DingoEvent,
  lookupResult,
  TaskError,
  type TaskReport,
  type Transport,
  type Worker,
} from "../../src/index.js";
import { conformanceServices, deferred, onlyAdd } from "./fixtures.js";

/**
 * Makes a transport for one test. It must be isolated from other tests' transports
 * (its own queues, inboxes and results: a unique key prefix on a shared broker).
 */
export type TransportFactory = (testId: string) => Transport | Promise<Transport>;

/** One test's world: a transport, services with unique queues, and cleanup. */
async function setup(factory: TransportFactory) {
  const id = randomUUID().slice(0, 8);
  const transport = await factory(id);
  const services = conformanceServices(id);
  const workers: Worker[] = [];
  const makeWorker = (options: Parameters<typeof createWorker>[1] = {}): Worker => {
    const worker = createWorker(transport, options);
    workers.push(worker);
    return worker;
  };
  return {
    ...services,
    transport,
    makeWorker,
    async [Symbol.asyncDispose]() {
      await Promise.all(workers.map((worker) => worker.close({ timeoutMs: 1000 })));
      await transport.close();
    },
  };
}

type World = Awaited<ReturnType<typeof setup>>;

/**
 * Calls `add(request)` on a first worker whose handler never ends (it ignores its signal),
 * then closes that worker with `closeTimeoutMs`: the task goes back to the broker.
 * Resolve `neverEnds` when the test is done with it.
 */
async function abandonedCall(world: World, request: { a?: number; b?: number }, closeTimeoutMs: number) {
  const started = deferred();
  const neverEnds = deferred();
  const first = world.makeWorker();
  await first.serve(
    world.Tasks,
    onlyAdd(async () => {
      started.resolve();
      await neverEnds.promise;
      return { sum: -1 };
    }),
  );
  const call = createClient(world.Tasks, world.transport).add(request);
  await started.promise;
  await first.close({ timeoutMs: closeTimeoutMs });
  return { call, neverEnds };
}

async function collect<T>(reports: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const report of reports) all.push(report);
  return all;
}

async function rejection(promise: PromiseLike<unknown>): Promise<TaskError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TaskError, `expected a TaskError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

/**
 * The behaviour every transport must show, run against `factory`. Brokers reuse it
 * unchanged: `describeConformance("redis", (id) => createRedisTransport({ prefix: id }))`.
 */
export function describeConformance(name: string, factory: TransportFactory): void {
  describe(`conformance: ${name}`, () => {
    it("returns the typed result, with reports SENT → RECEIVED → PROGRESS → SUCCESS", async () => {
      await using world = await setup(factory);
      await world.makeWorker().serve(world.Tasks, {
        add: ({ a, b }) => ({ sum: a + b }),
        divide: ({ dividend, divisor }) => ({ quotient: dividend / divisor }),
        countPrimes: async ({ limit }, context) => {
          let count = 0;
          let largest = 0;
          for (let n = 2; n < limit; n++) {
            let prime = true;
            for (let d = 2; d * d <= n; d++) if (n % d === 0) prime = false;
            if (prime) {
              count++;
              largest = n;
            }
            if (n % 25 === 0) await context.progress({ percent: (100 * n) / limit, message: `at ${n}` });
          }
          return { count, largest };
        },
      });
      const tasks = createClient(world.Tasks, world.transport);

      assert.deepEqual(await tasks.add({ a: 40, b: 2 }), { sum: 42 });

      const call = tasks.countPrimes({ limit: 100 }, { reports: "all" });
      assert.match(call.id, /^[0-9a-f-]{36}$/);
      const reports = await collect(call.reports());
      assert.deepEqual(
        reports.map((report) => report.status),
        ["sent", "received", "progress", "progress", "progress", "success"],
      );
      const final = reports.at(-1) as TaskReport<{ count: number }>;
      assert.equal(final.status, "success");
      assert.equal(final.status === "success" && final.response.count, 25);
      const progress = reports.filter((report) => report.status === "progress");
      assert.deepEqual(
        progress.map((report) => report.status === "progress" && report.progress.message),
        ["at 25", "at 50", "at 75"],
      );
      for (const report of reports) assert.equal(report.taskId, call.id);
      assert.deepEqual(await call, { count: 25, largest: 97 });
      // A second iteration replays the same reports.
      assert.equal((await collect(call.reports())).length, reports.length);
    });

    it("delivers the handler's error as a TaskError with its code, message and details", async () => {
      await using world = await setup(factory);
      const detail = { type: "example.v1.DivideRequest", value: new Uint8Array([1, 2, 3]) };
      await world.makeWorker().serve(world.Tasks, {
        add: () => {
          throw new Error("plain failure");
        },
        divide: ({ divisor }) => {
          if (divisor === 0) throw new TaskError("divisor must not be zero", "invalid_argument", { details: [detail] });
          return { quotient: 1 };
        },
        countPrimes: () => ({}),
      });
      const tasks = createClient(world.Tasks, world.transport);

      const call = tasks.divide({ dividend: 1, divisor: 0 }, { reports: "all" });
      const error = await rejection(call);
      assert.equal(error.code, "invalid_argument");
      assert.equal(error.rawMessage, "divisor must not be zero");
      assert.equal(error.retryable, false);
      assert.deepEqual(
        error.details.map((d) => ({ type: d.type, value: [...d.value] })),
        [{ type: detail.type, value: [1, 2, 3] }],
      );
      const statuses = (await collect(call.reports())).map((report) => report.status);
      assert.deepEqual(statuses, ["sent", "received", "failure"]);

      const plain = await rejection(tasks.add({}));
      assert.equal(plain.code, "unknown");
      assert.equal(plain.rawMessage, "plain failure");
    });

    it("retries a retryable failure with RETRY reports, and stops at once on a non-retryable one", async () => {
      await using world = await setup(factory);
      const attempts = new Map<number, number>();
      await world.makeWorker().serve(
        world.Tasks,
        onlyAdd(({ a }, context) => {
          attempts.set(a, context.attempt);
          if (a === 1 && context.attempt < 3) throw new TaskError("try again", "unavailable");
          if (a === 2) throw new TaskError("never", "failed_precondition");
          return { sum: context.attempt };
        }),
      );
      const tasks = createClient(world.Tasks, world.transport, {
        taskOptions: { maxAttempts: 5, initialBackoffMs: 5, backoffMultiplier: 2 },
      });

      const call = tasks.add({ a: 1 }, { reports: "all" });
      assert.deepEqual(await call, { sum: 3 });
      const reports = await collect(call.reports());
      assert.deepEqual(
        reports.map((report) => `${report.status}@${report.attempt}`),
        ["sent@0", "received@1", "retry@1", "received@2", "retry@2", "received@3", "success@3"],
      );
      const retry = reports[2];
      assert.ok(retry?.status === "retry");
      assert.equal(retry.error.code, "unavailable");
      assert.ok(retry.nextAttemptAtMs >= retry.atMs + 5);
      // Exponential: the second wait is the first times the multiplier (5 ms, then 10 ms).
      const secondRetry = reports[4];
      assert.ok(secondRetry?.status === "retry");
      assert.ok(secondRetry.nextAttemptAtMs >= secondRetry.atMs + 10);
      const third = reports[5];
      // Within the 5 ms a worker tolerates (timers and the wall clock differ by a little).
      assert.ok(third !== undefined && third.atMs >= secondRetry.nextAttemptAtMs - 5, "not run before its backoff");

      const error = await rejection(tasks.add({ a: 2 }));
      assert.equal(error.code, "failed_precondition");
      assert.equal(attempts.get(2), 1);
    });

    it("dead-letters a task nobody serves and fails the call with NOT_FOUND; the worker keeps serving", async () => {
      await using world = await setup(factory);
      const events: DingoEvent[] = [];
      const worker = world.makeWorker();
      worker.events.subscribe((event) => events.push(event));
      await worker.serve(
        world.Tasks,
        onlyAdd(({ a, b }) => ({ sum: a + b })),
      );

      const unserved = createClient(world.Unserved, world.transport);
      const call = unserved.missing({ a: 1 });
      const error = await rejection(call);
      assert.equal(error.code, "not_found");
      assert.match(error.rawMessage, /dingo\.conformance\.v1\.Unserved\/Missing/);

      const letters = await world.transport.admin.deadLetters(world.queue);
      assert.equal(letters.length, 1);
      assert.match(letters[0]?.reason ?? "", /^not_found: /);
      assert.ok(events.some((event) => event.type === "task-dead-lettered" && event.taskId === call.id));

      assert.deepEqual(await createClient(world.Tasks, world.transport).add({ a: 1, b: 1 }), { sum: 2 });
    });

    it("dead-letters a payload that does not decode as the request and fails the call with INVALID_ARGUMENT", async () => {
      await using world = await setup(factory);
      let ran = false;
      await world.makeWorker().serve(
        world.Tasks,
        onlyAdd(() => {
          ran = true;
          return {};
        }),
      );
      const error = await rejection(createClient(world.Garbled, world.transport).add({ a: 1 }));
      assert.equal(error.code, "invalid_argument");
      assert.match(error.rawMessage, /example\.v1\.AddRequest/);
      assert.equal(ran, false);
      const letters = await world.transport.admin.deadLetters(world.queue);
      assert.equal(letters.length, 1);
      assert.match(letters[0]?.reason ?? "", /^invalid_argument: /);
    });

    it("dead-letters undecodable envelope bytes with a reason and keeps serving", async () => {
      await using world = await setup(factory);
      const worker = world.makeWorker();
      const deadLettered = deferred<DingoEvent>();
      worker.events.subscribe((event) => {
        if (event.type === "task-dead-lettered") deadLettered.resolve(event);
      });
      await worker.serve(
        world.Tasks,
        onlyAdd(({ a, b }) => ({ sum: a + b })),
      );
      const garbage = new Uint8Array([0xff, 0xff, 0xff, 0x07, 0x01]);
      await world.transport.tasks.publish({
        id: "garbage",
        queue: world.queue,
        body: garbage,
        priority: 0,
        notBeforeMs: 0,
      });
      const event = await deadLettered.promise;
      assert.equal(event.type === "task-dead-lettered" && event.taskId, "");
      const letters = await world.transport.admin.deadLetters(world.queue);
      assert.equal(letters.length, 1);
      assert.deepEqual([...(letters[0]?.body ?? [])], [...garbage]);
      assert.match(letters[0]?.reason ?? "", /undecodable task envelope/);
      assert.deepEqual(await createClient(world.Tasks, world.transport).add({ a: 2, b: 3 }), { sum: 5 });
    });

    it("settles a call with DEADLINE_EXCEEDED when the caller's timeout passes; the task can still be cancelled", async () => {
      await using world = await setup(factory);
      const started = deferred();
      const aborted = deferred<unknown>();
      await world.makeWorker().serve(
        world.Tasks,
        onlyAdd(async (_request, context) => {
          started.resolve();
          // Runs until cancelled.
          await new Promise((_resolve, reject) =>
            context.signal.addEventListener("abort", () => {
              aborted.resolve(context.signal.reason);
              reject(context.signal.reason);
            }),
          );
          return {};
        }),
      );
      const call = createClient(world.Tasks, world.transport).add({}, { timeoutMs: 100 });
      const error = await rejection(call);
      assert.equal(error.code, "deadline_exceeded");
      const reports = await collect(call.reports());
      assert.equal(reports.at(-1)?.status, "failure");
      await started.promise;
      // The timeout only ended the wait; cancelling stops the task.
      assert.equal(await call.cancel(), true);
      const reason = await aborted.promise;
      assert.ok(reason instanceof TaskError && reason.code === "cancelled");
      assert.equal((await rejection(call)).code, "deadline_exceeded", "the call keeps its first outcome");
    });

    it("answers a repeated submission of a finished task id with the recorded outcome, without running it again", async () => {
      await using world = await setup(factory);
      let runs = 0;
      await world.makeWorker().serve(world.Tasks, {
        add: ({ a, b }) => {
          runs++;
          return { sum: a + b };
        },
        divide: () => undefined as never,
        countPrimes: () => ({}),
      });
      const tasks = createClient(world.Tasks, world.transport);
      const id = `once-${randomUUID()}`;
      assert.deepEqual(await tasks.add({ a: 1, b: 2 }, { id }), { sum: 3 });
      assert.deepEqual(await tasks.add({ a: 100, b: 200 }, { id }), { sum: 3 });
      assert.equal(runs, 1);
      // A handler that returns nothing answers with the response's defaults.
      assert.deepEqual(await tasks.divide({ dividend: 1, divisor: 1 }), { quotient: 0 });
    });

    it("cancels a running task: its signal aborts and the call settles as CANCELLED", async () => {
      await using world = await setup(factory);
      const started = deferred();
      const aborted = deferred<unknown>();
      const cancelledEvent = deferred<string>();
      const failedEvents: string[] = [];
      const worker = world.makeWorker();
      worker.events.subscribe((event) => {
        if (event.type === "task-cancelled") cancelledEvent.resolve(event.taskId);
        if (event.type === "task-failed") failedEvents.push(event.taskId);
      });
      await worker.serve(
        world.Tasks,
        onlyAdd(async (_request, context) => {
          context.signal.addEventListener("abort", () => aborted.resolve(context.signal.reason));
          started.resolve();
          await aborted.promise;
          return { sum: 1 };
        }),
      );
      const call = createClient(world.Tasks, world.transport).add({});
      await started.promise;
      assert.equal(await call.cancel("changed my mind"), true);
      const error = await rejection(call);
      assert.equal(error.code, "cancelled");
      assert.equal(error.rawMessage, "changed my mind");
      const reason = await aborted.promise;
      assert.ok(reason instanceof TaskError && reason.code === "cancelled");
      assert.equal((await collect(call.reports())).at(-1)?.status, "cancelled");
      assert.equal(await call.cancel(), false);
      // The worker's events (and so its metrics) count it as cancelled.
      assert.equal(await cancelledEvent.promise, call.id);
      assert.deepEqual(failedEvents, []);
    });

    it("cancels a queued task so that it never runs, also through an AbortSignal", async () => {
      await using world = await setup(factory);
      const ran: number[] = [];
      const tasks = createClient(world.Tasks, world.transport);
      // Queued before any worker exists.
      const first = tasks.add({ a: 1 });
      const controller = new AbortController();
      const second = tasks.add({ a: 2 }, { signal: controller.signal });
      await Promise.all([first.sent, second.sent]);
      assert.equal(await first.cancel(), true);
      controller.abort();
      assert.equal((await rejection(first)).code, "cancelled");
      assert.equal((await rejection(second)).code, "cancelled");

      const worker = world.makeWorker();
      const skipped: string[] = [];
      worker.events.subscribe((event) => {
        if (event.type === "task-cancelled") skipped.push(event.taskId);
      });
      await worker.serve(
        world.Tasks,
        onlyAdd(({ a }) => {
          ran.push(a);
          return { sum: a };
        }),
      );
      assert.deepEqual(await tasks.add({ a: 3 }), { sum: 3 });
      await worker.close();
      assert.deepEqual(ran, [3]);
      assert.deepEqual(skipped.sort(), [first.id, second.id].sort());
    });

    it("asks the result store before running only tasks that may have been cancelled unheard", async () => {
      await using world = await setup(factory);
      let lookups = 0;
      const { results } = world.transport;
      // The worker's view of the transport, counting the lookups it makes.
      const counted: Transport = {
        tasks: world.transport.tasks,
        reports: world.transport.reports,
        results: {
          claim: (key, address, ttlMs) => results.claim(key, address, ttlMs),
          settle: (key, report, ttlMs) => results.settle(key, report, ttlMs),
          lookup: (key) => {
            lookups++;
            return results.lookup(key);
          },
          forget: (key, report) => results.forget(key, report),
        },
        admin: world.transport.admin,
        close: async () => {},
      };
      const trusting = createWorker(counted, { clockSkewMs: 0 });
      const ran: number[] = [];
      try {
        await trusting.serve(
          world.Tasks,
          onlyAdd(({ a }) => {
            ran.push(a);
            return { sum: a };
          }),
        );
        // Tasks created within the millisecond the worker began listening are asked about.
        const listening = Date.now();
        while (Date.now() <= listening) await new Promise(setImmediate);
        const tasks = createClient(world.Tasks, world.transport);
        // Created after the worker began listening: nothing to ask.
        for (let a = 1; a <= 3; a++) assert.deepEqual(await tasks.add({ a }), { sum: a });
        assert.equal(lookups, 0);

        // Cancelled while it waits: the worker heard the broadcast, so it asks, and skips it.
        const skipped = new Promise<string>((resolve) => {
          trusting.events.subscribe((event) => {
            if (event.type === "task-cancelled") resolve(event.taskId);
          });
        });
        const delayed = tasks.add({ a: 4 }, { delayMs: 200 });
        await delayed.sent;
        assert.equal(await delayed.cancel(), true);
        assert.equal((await rejection(delayed)).code, "cancelled");
        assert.equal(await skipped, delayed.id);
        assert.equal(lookups, 1);
        assert.deepEqual(ran, [1, 2, 3]);
      } finally {
        await trusting.close();
      }

      // With the default allowance for callers' clocks, a task created just now is asked about.
      const cautious = createWorker(counted);
      try {
        await cautious.serve(
          world.Tasks,
          onlyAdd(({ a }) => ({ sum: a })),
        );
        const before = lookups;
        assert.deepEqual(await createClient(world.Tasks, world.transport).add({ a: 5 }), { sum: 5 });
        assert.equal(lookups, before + 1);
      } finally {
        await cautious.close();
      }
    });

    it("does not start a delayed task before its time", async () => {
      await using world = await setup(factory);
      const startedAt = new Map<number, number>();
      await world.makeWorker().serve(
        world.Tasks,
        onlyAdd(({ a }) => {
          startedAt.set(a, Date.now());
          return { sum: a };
        }),
      );
      const tasks = createClient(world.Tasks, world.transport);
      const before = Date.now();
      const delayed = tasks.add({ a: 1 }, { delayMs: 150 });
      const scheduled = tasks.add({ a: 2 }, { runAt: new Date(before + 100) });
      const immediate = tasks.add({ a: 3 });
      await Promise.all([delayed, scheduled, immediate]);
      assert.ok((startedAt.get(1) ?? 0) >= before + 150 - 5, "delayMs respected (within the 5 ms early window)");
      assert.ok((startedAt.get(2) ?? 0) >= before + 100 - 5, "runAt respected (within the 5 ms early window)");
      // A short delay does not wait behind a long one, and an undelayed task runs at once.
      assert.ok((startedAt.get(3) ?? Number.POSITIVE_INFINITY) < (startedAt.get(2) ?? 0));
      assert.ok((startedAt.get(2) ?? Number.POSITIVE_INFINITY) < (startedAt.get(1) ?? 0));
    });

    it("fails a task whose deadline passed before it started with DEADLINE_EXCEEDED, without running it", async () => {
      await using world = await setup(factory);
      let ran = false;
      await world.makeWorker().serve(
        world.Tasks,
        onlyAdd(() => {
          ran = true;
          return {};
        }),
      );
      const tasks = createClient(world.Tasks, world.transport);
      const late = tasks.add({}, { deadline: Date.now() - 1, task: { maxAttempts: 3 } });
      const error = await rejection(late);
      assert.equal(error.code, "deadline_exceeded");
      assert.equal(error.retryable, false);
      assert.equal(ran, false);
      assert.deepEqual(
        (await collect(late.reports())).map((report) => report.status),
        ["sent", "failure"],
      );
      // A deadline in the future does not stop a task that finishes in time.
      assert.deepEqual(await tasks.add({ a: 1 }, { deadline: new Date(Date.now() + 60_000) }), { sum: 0 });
    });

    it("aborts the handler's signal when an attempt exceeds its timeout, and fails with DEADLINE_EXCEEDED", async () => {
      await using world = await setup(factory);
      const reasons: unknown[] = [];
      await world.makeWorker().serve(
        world.Tasks,
        onlyAdd(
          (_request, context) =>
            new Promise((_resolve, reject) => {
              context.signal.addEventListener("abort", () => {
                reasons.push(context.signal.reason);
                reject(context.signal.reason);
              });
            }),
        ),
      );
      const tasks = createClient(world.Tasks, world.transport);
      const call = tasks.add({}, { task: { timeoutMs: 50, maxAttempts: 2, initialBackoffMs: 1 }, reports: "all" });
      const error = await rejection(call);
      assert.equal(error.code, "deadline_exceeded");
      assert.deepEqual(
        (await collect(call.reports())).map((report) => `${report.status}@${report.attempt}`),
        ["sent@0", "received@1", "retry@1", "received@2", "failure@2"],
        "a timed-out attempt is retried while attempts remain",
      );
      assert.equal(reasons.length, 2);
      assert.ok(reasons.every((reason) => reason instanceof TaskError && reason.code === "deadline_exceeded"));
    });

    it("delivers queued tasks by priority, first in first out within a priority", async () => {
      await using world = await setup(factory);
      const tasks = createClient(world.Tasks, world.transport);
      const priorities = [0, 5, 9, 5, 0, 9, 1, 5];
      const calls = priorities.map((priority, index) => tasks.add({ a: index }, { task: { priority } }));
      await Promise.all(calls.map((call) => call.sent));
      const order: number[] = [];
      await world.makeWorker({ concurrency: 1 }).serve(
        world.Tasks,
        onlyAdd(({ a }) => {
          order.push(a);
          return { sum: a };
        }),
      );
      await Promise.all(calls);
      assert.deepEqual(order, [2, 5, 1, 3, 7, 6, 0, 4]);
    });

    it("keeps the outcome for lookup by id from another client", async () => {
      await using world = await setup(factory);
      await world.makeWorker().serve(world.Tasks, {
        add: ({ a, b }) => ({ sum: a + b }),
        divide: () => {
          throw new TaskError("no", "permission_denied");
        },
        countPrimes: () => ({}),
      });
      const tasks = createClient(world.Tasks, world.transport);
      const added = tasks.add({ a: 2, b: 3 });
      const divided = tasks.divide({});
      await added;
      await rejection(divided);
      // A second view of the transport: a separate caller, as another process would be.
      const elsewhere: Transport = { ...world.transport };
      const success = await lookupResult(world.Tasks.methods.add, elsewhere, added.id);
      assert.equal(success?.status, "success");
      assert.deepEqual(success?.status === "success" && success.response, { sum: 5 });
      const failure = await lookupResult(world.Tasks.methods.divide, elsewhere, divided.id);
      assert.equal(failure?.status === "failure" && failure.error.code, "permission_denied");
      assert.equal(await lookupResult(world.Tasks.methods.add, elsewhere, "no-such-task"), undefined);
      // The id names a task of one method only.
      assert.equal(await lookupResult(world.Tasks.methods.divide, elsewhere, added.id), undefined);
    });

    it("runs a task submitted twice with the same id while pending only once; both calls get its outcome", async () => {
      await using world = await setup(factory);
      const started = deferred();
      const gate = deferred();
      let runs = 0;
      await world.makeWorker().serve(
        world.Tasks,
        onlyAdd(async ({ a, b }) => {
          runs++;
          started.resolve();
          await gate.promise;
          return { sum: a + b };
        }),
      );
      const id = `twice-${randomUUID()}`;
      const first = createClient(world.Tasks, world.transport).add({ a: 1, b: 1 }, { id });
      await started.promise;
      const sameProcess = createClient(world.Tasks, world.transport).add({ a: 5, b: 5 }, { id });
      const otherProcess = createClient(world.Tasks, { ...world.transport }).add({ a: 7, b: 7 }, { id });
      await otherProcess.sent;
      gate.resolve();
      assert.deepEqual(await first, { sum: 2 });
      assert.deepEqual(await sameProcess, { sum: 2 });
      assert.deepEqual(await otherProcess, { sum: 2 });
      assert.equal(runs, 1);
    });

    it("sends only the reports asked for, by default the outcome alone", async () => {
      await using world = await setup(factory);
      await world.makeWorker().serve(
        world.Tasks,
        onlyAdd(async ({ a, b }, context) => {
          await context.progress({ percent: 50 });
          return { sum: a + b };
        }),
      );
      const tasks = createClient(world.Tasks, world.transport);
      const statuses = async (reports?: "all" | "no-progress" | "final") => {
        const call = tasks.add({ a: 1, b: 2 }, reports === undefined ? {} : { reports });
        assert.deepEqual(await call, { sum: 3 });
        return (await collect(call.reports())).map((report) => report.status);
      };
      assert.deepEqual(await statuses("all"), ["sent", "received", "progress", "success"]);
      assert.deepEqual(await statuses("no-progress"), ["sent", "received", "success"]);
      assert.deepEqual(await statuses("final"), ["sent", "success"]);
      assert.deepEqual(await statuses(), ["sent", "success"], "the default is the outcome alone");

      const fireAndForget = tasks.add({ a: 1, b: 2 }, { reports: "none" });
      await fireAndForget.sent;
      assert.equal((await rejection(fireAndForget)).code, "failed_precondition");
    });

    it("uses the caller's task id, or its id generator, and passes headers to the handler", async () => {
      await using world = await setup(factory);
      const seen: { id: string; headers: Readonly<Record<string, string>> }[] = [];
      await world.makeWorker().serve(
        world.Tasks,
        onlyAdd((_request, context) => {
          seen.push({ id: context.taskId, headers: context.headers });
          return {};
        }),
      );
      let next = 0;
      const tasks = createClient(world.Tasks, world.transport, { idGenerator: () => `order-${++next}` });
      const explicit = `explicit-${randomUUID()}`;
      await tasks.add({}, { id: explicit, headers: { TraceParent: "00-abc-def-01", tenant: "acme" } });
      const generated = tasks.add({});
      assert.equal(generated.id, "order-1");
      await generated;
      assert.deepEqual(seen, [
        { id: explicit, headers: { traceparent: "00-abc-def-01", tenant: "acme" } },
        { id: "order-1", headers: {} },
      ]);
    });

    it("rejects a request over the payload limit at the caller with RESOURCE_EXHAUSTED", async () => {
      await using world = await setup(factory);
      const tasks = createClient(world.Tasks, world.transport, { maxPayloadBytes: 8 });
      const call = tasks.add({ a: Number.MAX_SAFE_INTEGER, b: Number.MAX_SAFE_INTEGER });
      assert.equal((await rejection(call)).code, "resource_exhausted");
      assert.equal((await rejection(call.sent)).code, "resource_exhausted");
    });

    it("emits typed events until unsubscribed", async () => {
      await using world = await setup(factory);
      const events = createEventBus();
      const seen: string[] = [];
      // One bus hears both sides. Each side's events are in order; across sides a worker
      // may receive a task, and even answer it, before its caller hears the broker's
      // confirmation (RabbitMQ delivers persistent messages before it confirms them).
      const bothPublished = deferred();
      const unsubscribe = events.subscribe((event) => {
        seen.push(event.type);
        if (seen.filter((type) => type === "task-published").length === 2) bothPublished.resolve();
      });
      await world.makeWorker({ events }).serve(
        world.Tasks,
        onlyAdd(({ a }) => {
          if (a === 1) throw new TaskError("no", "invalid_argument");
          return {};
        }),
      );
      const tasks = createClient(world.Tasks, world.transport, { events });
      await tasks.add({});
      await rejection(tasks.add({ a: 1 }));
      await bothPublished.promise;
      const callerSide = new Set(["task-published"]);
      assert.deepEqual(
        seen.filter((type) => callerSide.has(type)),
        ["task-published", "task-published"],
      );
      assert.deepEqual(
        seen.filter((type) => !callerSide.has(type)),
        ["task-received", "task-succeeded", "task-received", "task-failed"],
      );
      unsubscribe();
      await tasks.add({});
      assert.equal(seen.length, 6);
    });

    it("close() waits for running tasks, which still complete", async () => {
      await using world = await setup(factory);
      const started = deferred();
      const gate = deferred();
      const worker = world.makeWorker();
      await worker.serve(
        world.Tasks,
        onlyAdd(async ({ a }) => {
          started.resolve();
          await gate.promise;
          return { sum: a };
        }),
      );
      const call = createClient(world.Tasks, world.transport).add({ a: 7 });
      await started.promise;
      let closed = false;
      const closing = worker.close().then(() => {
        closed = true;
      });
      assert.equal(worker.close(), worker.close(), "close() is idempotent");
      // Let the worker progress as far as it can without the handler finishing.
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(closed, false);
      gate.resolve();
      await closing;
      assert.deepEqual(await call, { sum: 7 });
      await assert.rejects(worker.serve(world.Tasks, { add: () => ({}), divide: () => ({}), countPrimes: () => ({}) }));
    });

    it("close({ timeoutMs }) gives a task that outlives it back to the broker; another worker finishes it", async () => {
      await using world = await setup(factory);
      const { call, neverEnds } = await abandonedCall(world, { a: 20, b: 22 }, 50);
      await world.makeWorker().serve(
        world.Tasks,
        onlyAdd(({ a, b }, context) => ({ sum: a + b + context.attempt - 1 })),
      );
      assert.deepEqual(await call, { sum: 42 }, "the same attempt, delivered again");
      neverEnds.resolve();
    });

    it("dead-letters a task delivered more often than maxDeliveries, failing it with ABORTED", async () => {
      await using world = await setup(factory);
      const { call, neverEnds } = await abandonedCall(world, {}, 10);
      let ran = false;
      await world.makeWorker({ maxDeliveries: 1 }).serve(
        world.Tasks,
        onlyAdd(() => {
          ran = true;
          return {};
        }),
      );
      const error = await rejection(call);
      assert.equal(error.code, "aborted");
      assert.equal(ran, false);
      const letters = await world.transport.admin.deadLetters(world.queue);
      assert.match(letters[0]?.reason ?? "", /^aborted: delivered 2 times/);
      neverEnds.resolve();
    });

    it("a worker serving several services holds no more tasks than its concurrency", async () => {
      await using world = await setup(factory);
      const started = deferred();
      const gate = deferred();
      const busy = world.makeWorker({ concurrency: 1 });
      await busy.serve(
        world.Tasks,
        onlyAdd(async () => {
          started.resolve();
          await gate.promise;
          return {};
        }),
      );
      await busy.serve(world.Second, { add: () => ({ sum: -1 }) });
      const blocked = createClient(world.Tasks, world.transport).add({});
      await started.promise;
      // The busy worker has no room: another worker must get this task, not wait behind it.
      const second = createClient(world.Second, world.transport).add({ a: 1, b: 1 });
      await world.makeWorker().serve(world.Second, { add: ({ a, b }) => ({ sum: a + b }) });
      assert.deepEqual(await second, { sum: 2 });
      gate.resolve();
      await blocked;
    });

    it("never runs more handlers at once than the worker's concurrency", async () => {
      await using world = await setup(factory);
      let running = 0;
      let peak = 0;
      const full = deferred();
      await world.makeWorker({ concurrency: 3 }).serve(
        world.Tasks,
        onlyAdd(async ({ a }) => {
          running++;
          peak = Math.max(peak, running);
          if (running === 3) full.resolve();
          // The first three hold their slots until three run at once (the worker uses its
          // concurrency: brokers hand out deliveries at their own pace); the rest only yield.
          if (a < 3) await full.promise;
          else await new Promise((resolve) => setImmediate(resolve));
          running--;
          return { sum: a };
        }),
      );
      const tasks = createClient(world.Tasks, world.transport);
      await Promise.all(Array.from({ length: 30 }, (_, a) => tasks.add({ a })));
      assert.equal(peak, 3);
    });

    it("serves many concurrent callers with many workers, each task once, ids colliding across task names", async () => {
      await using world = await setup(factory);
      const runs = new Map<string, number>();
      const handlers = (workerIndex: number) => ({
        add: ({ a, b }: { a: number; b: number }, context: { taskId: string; taskName: string }) => {
          const key = `${context.taskName}/${context.taskId}`;
          runs.set(key, (runs.get(key) ?? 0) + 1);
          return { sum: a + b + workerIndex * 0 };
        },
        divide: ({ dividend, divisor }: { dividend: number; divisor: number }) => ({ quotient: dividend / divisor }),
        countPrimes: () => ({}),
      });
      const perWorker = new Map<string, number>();
      for (let index = 0; index < 3; index++) {
        const worker = world.makeWorker({ concurrency: 8 });
        worker.events.subscribe((event) => {
          if (event.type === "task-succeeded") perWorker.set(worker.id, (perWorker.get(worker.id) ?? 0) + 1);
        });
        await worker.serve(world.Tasks, handlers(index));
      }
      const clients = Array.from({ length: 4 }, () => createClient(world.Tasks, world.transport));
      const total = 2000;
      const calls = Array.from({ length: total }, async (_, index) => {
        const client = clients[index % clients.length];
        assert.ok(client !== undefined);
        // The same id on two task names: two different tasks.
        const id = `shared-${index >> 1}`;
        if (index % 2 === 0) assert.deepEqual(await client.add({ a: index, b: 1 }, { id }), { sum: index + 1 });
        else assert.deepEqual(await client.divide({ dividend: index, divisor: 2 }, { id }), { quotient: index / 2 });
      });
      await Promise.all(calls);
      assert.equal(runs.size, total / 2);
      assert.ok([...runs.values()].every((count) => count === 1));
      assert.equal(
        [...perWorker.values()].reduce((sum, count) => sum + count, 0),
        total,
      );
      assert.equal(perWorker.size, 3, "every worker took part");
    });
  });
}
