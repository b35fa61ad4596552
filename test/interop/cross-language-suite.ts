/**
 * The cross-language suite (issue 6): over one broker, a TypeScript caller calls tasks that
 * the Python reference worker (interop/python/) serves, a Python caller calls tasks that a
 * TypeScript worker serves, and a worker killed mid-task has its task finished by a worker
 * of the other language. test/interop/redis-interop.test.ts and amqp-interop.test.ts run it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Task } from "../../generated/dingo/v1/envelope_pb.js";
import { MathTasks } from "../../generated/example/v1/math_dingo.js";
import {
  createClient,
  createWorker,
  type ServiceDefinition,
  type TaskCall,
  TaskError,
  type TaskReport,
  type Transport,
  type Worker,
} from "../../src/index.js";
import { interopHandlers } from "./interop-handlers.js";
import { LineProcess, type PythonReport, pythonCall, startPython, startPythonWorker } from "./python-process.js";

/** What the suite needs to know of one broker. */
export interface InteropBroker {
  /** For test names. */
  readonly name: string;
  /** The Python side's `--transport` and URL options. */
  readonly pythonArgs: readonly string[];
  /** The TypeScript transport for `prefix`; `fastReclaim` shortens its Redis lease. */
  transport(prefix: string, fastReclaim?: boolean): Transport;
  /** The dead letters of `queue` under `prefix`, as `{ body, reason }`. */
  deadLetters(transport: Transport, queue: string): Promise<readonly { body: Uint8Array; reason: string }[]>;
  /** Deletes what the tests left under `prefix` (durable queues, streams). */
  cleanup(prefix: string): Promise<void>;
}

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const addQueue = MathTasks.methods.add.taskName;

/** A method no worker serves, published to the queue where the workers take Add. */
const Unserved = {
  typeName: "example.v1.MathTasks",
  defaults: { queue: addQueue },
  methods: {
    missing: { ...MathTasks.methods.add, name: "Missing", taskName: "example.v1.MathTasks/Missing", options: {} },
  },
} as const satisfies ServiceDefinition;

async function reportsOf<Res>(call: TaskCall<Res>): Promise<TaskReport<Res>[]> {
  const reports: TaskReport<Res>[] = [];
  for await (const report of call.reports()) reports.push(report);
  return reports;
}

/** A pattern matching `text` literally. */
function literally(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

function uniquePrefix(what: string): string {
  return `interop-${what}-${randomUUID().slice(0, 8)}`;
}

/** Starts a TypeScript worker process (test/interop/ts-worker-process.ts) and waits for `ready`. */
async function startTsWorker(args: readonly string[]): Promise<LineProcess> {
  const script = join(root, "test/interop/ts-worker-process.ts");
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], { cwd: root, stdio: "pipe" });
  const worker = new LineProcess("ts-worker-process.ts", child);
  await worker.waitFor(/^ready /);
  return worker;
}

export function crossLanguageSuite(broker: InteropBroker, skip: string | false): void {
  const flags = (prefix: string): string[] => [...broker.pythonArgs, "--prefix", prefix];

  describe(`a TypeScript caller and the Python worker, over ${broker.name}`, { skip }, () => {
    const prefix = uniquePrefix("py-worker");
    let python: Awaited<ReturnType<typeof startPythonWorker>> | undefined;
    let transport: Transport;
    let math: ReturnType<typeof createClient<typeof MathTasks>>;

    before(async () => {
      python = await startPythonWorker(flags(prefix));
      transport = broker.transport(prefix);
      math = createClient(MathTasks, transport);
    });
    after(async () => {
      await python?.process.kill();
      await transport?.close();
      await broker.cleanup(prefix);
    });

    it("gets a typed result", async () => {
      const call = math.add({ a: 40, b: 2 }, { reports: "all" });
      const reports = await reportsOf(call);
      assert.deepEqual(
        reports.map((report) => report.status),
        ["sent", "received", "success"],
      );
      const final = reports.at(-1);
      assert.equal(final?.status, "success");
      if (final?.status === "success") assert.equal(final.response.sum, 42);
      assert.equal(final?.workerId, python?.id, "the Python worker ran it");
    });

    it("gets a handler's failure with its code and message", async () => {
      await assert.rejects(
        async () => await math.divide({ dividend: 1, divisor: 0 }),
        (error: unknown) => {
          assert.ok(error instanceof TaskError);
          assert.equal(error.code, "invalid_argument");
          assert.equal(error.rawMessage, "divisor must not be zero");
          assert.equal(error.retryable, false);
          return true;
        },
      );
    });

    it("sees a retry, then the success of the next attempt", async () => {
      const reports = await reportsOf(math.add({ a: 1, b: 2 }, { reports: "all", headers: { "fail-attempts": "1" } }));
      assert.deepEqual(
        reports.map((report) => `${report.status}@${report.attempt}`),
        ["sent@0", "received@1", "retry@1", "received@2", "success@2"],
      );
      const [, , retry, received] = reports;
      assert.ok(retry?.status === "retry" && received !== undefined);
      assert.equal(retry.error.code, "unavailable");
      assert.match(retry.error.rawMessage, /attempt 1 fails/);
      // example.v1.MathTasks: the first wait is 100 ms. Workers may start up to 5 ms early.
      assert.ok(retry.nextAttemptAtMs >= retry.atMs + 99, `${retry.nextAttemptAtMs - retry.atMs} ms`);
      assert.ok(received.atMs >= retry.nextAttemptAtMs - 5, `${received.atMs - retry.nextAttemptAtMs} ms`);
    });

    it("sees progress reports", async () => {
      const reports = await reportsOf(math.countPrimes({ limit: 100, reportEvery: 25 }, { reports: "all" }));
      const progress = reports.flatMap((report) => (report.status === "progress" ? [report.progress] : []));
      assert.deepEqual(
        progress.map(({ percent, message }) => [percent, message]),
        [
          [25, "9 primes below 25"],
          [50, "15 primes below 50"],
          [75, "21 primes below 75"],
        ],
      );
      const final = reports.at(-1);
      assert.ok(final?.status === "success");
      assert.deepEqual(final.response, { count: 25, largest: 97 });
    });

    it("starts a delayed task no earlier than asked", async () => {
      const notBefore = Date.now() + 300;
      const reports = await reportsOf(math.add({ a: 2, b: 2 }, { runAt: notBefore, reports: "all" }));
      const received = reports.find((report) => report.status === "received");
      // Workers may start a task up to 5 ms early (WIRE.md, worker algorithm step 5).
      assert.ok(received !== undefined && received.atMs >= notBefore - 5, `received ${received?.atMs} < ${notBefore}`);
      assert.equal(reports.at(-1)?.status, "success");
    });

    it("fails a task whose deadline passed before it started, without running it", async () => {
      const reports = await reportsOf(math.add({ a: 1, b: 1 }, { deadline: Date.now() - 1, reports: "all" }));
      assert.deepEqual(
        reports.map((report) => report.status),
        ["sent", "failure"],
      );
      const final = reports.at(-1);
      assert.ok(final?.status === "failure");
      assert.equal(final.error.code, "deadline_exceeded");
      assert.equal(final.error.retryable, false);
    });

    it("dead-letters an unknown task with the reason, and fails its call with not_found", async () => {
      const call = createClient(Unserved, transport).missing({ a: 1, b: 1 });
      await assert.rejects(
        async () => await call,
        (error: unknown) => error instanceof TaskError && error.code === "not_found",
      );
      const dead = await broker.deadLetters(transport, addQueue);
      const mine = dead.find((letter) => Task.decode(letter.body).id === call.id);
      assert.equal(
        mine?.reason,
        `not_found: no worker serves example.v1.MathTasks/Missing on queue ${addQueue}`,
        "dead-lettered by the Python worker",
      );
    });

    it("cancels a task the Python worker is running, whose handler then stops", async () => {
      const call = math.countPrimes({ limit: 100_000_000 }, { reports: "all" });
      const key = literally(`example.v1.MathTasks/CountPrimes/${call.id}`);
      await python?.process.waitFor(new RegExp(`^start ${key} 1$`));
      await call.cancel();
      await assert.rejects(
        async () => await call,
        (error: unknown) => error instanceof TaskError && error.code === "cancelled",
      );
      // The broadcast aborted the handler; its FAILURE lost to the recorded CANCELLED.
      await python?.process.waitFor(new RegExp(`^done ${key} failure cancelled$`));
    });
  });

  describe(`the Python caller and a TypeScript worker, over ${broker.name}`, { skip }, () => {
    const prefix = uniquePrefix("py-caller");
    let transport: Transport;
    let worker: Worker;

    before(async () => {
      transport = broker.transport(prefix);
      worker = createWorker(transport);
      await worker.serve(MathTasks, interopHandlers);
    });
    after(async () => {
      await worker?.close();
      await transport?.close();
      await broker.cleanup(prefix);
    });

    const call = (...args: string[]): Promise<PythonReport[]> =>
      pythonCall(startPython("caller.py", [...flags(prefix), ...args]));
    const statuses = (reports: readonly PythonReport[]): string[] =>
      reports.map((report) => `${report.status}@${report.attempt}`);

    it("gets a typed result", async () => {
      const reports = await call("example.v1.MathTasks/Add", '{"a": 40, "b": 2}');
      assert.deepEqual(statuses(reports), ["sent@0", "received@1", "success@1"]);
      // proto3 JSON writes int64 as a string.
      assert.deepEqual(reports.at(-1)?.response, { sum: "42" });
      assert.equal(reports.at(-1)?.workerId, worker.id, "the TypeScript worker ran it");
    });

    it("gets a handler's failure with its code and message", async () => {
      const reports = await call("example.v1.MathTasks/Divide", '{"dividend": 1, "divisor": 0}');
      assert.deepEqual(reports.at(-1)?.error, {
        code: "invalid_argument",
        message: "divisor must not be zero",
        retryable: false,
      });
    });

    it("sees a retry, then the success of the next attempt", async () => {
      const reports = await call("example.v1.MathTasks/Add", '{"a": 1, "b": 2}', "--header", "fail-attempts=1");
      assert.deepEqual(statuses(reports), ["sent@0", "received@1", "retry@1", "received@2", "success@2"]);
      assert.equal(reports[2]?.error?.code, "unavailable");
      assert.ok((reports[2]?.nextAttemptAtMs ?? 0) >= (reports[2]?.atMs ?? Infinity) + 99);
      assert.deepEqual(reports.at(-1)?.response, { sum: "3" });
    });

    it("sees progress reports", async () => {
      const reports = await call("example.v1.MathTasks/CountPrimes", '{"limit": 100, "reportEvery": 25}');
      assert.deepEqual(
        reports.filter((report) => report.status === "progress").map((report) => report.progress),
        [
          { percent: 25, message: "9 primes below 25" },
          { percent: 50, message: "15 primes below 50" },
          { percent: 75, message: "21 primes below 75" },
        ],
      );
      assert.deepEqual(reports.at(-1)?.response, { count: 25, largest: 97 });
    });

    it("starts a delayed task no earlier than asked", async () => {
      const reports = await call("example.v1.MathTasks/Add", '{"a": 2, "b": 2}', "--delay-ms", "300");
      const notBefore = reports[0]?.notBeforeMs ?? 0;
      const received = reports.find((report) => report.status === "received");
      assert.ok(notBefore >= (reports[0]?.atMs ?? 0) + 250, "about 300 ms after the task was built");
      // Workers may start a task up to 5 ms early (WIRE.md, worker algorithm step 5).
      assert.ok(received !== undefined && received.atMs >= notBefore - 5, `received ${received?.atMs} < ${notBefore}`);
      assert.deepEqual(reports.at(-1)?.response, { sum: "4" });
    });

    it("fails a task whose deadline passed before it started, without running it", async () => {
      const reports = await call("example.v1.MathTasks/Add", '{"a": 1, "b": 1}', "--deadline-in-ms", "-1");
      assert.deepEqual(
        reports.map((report) => report.status),
        ["sent", "failure"],
      );
      assert.equal(reports.at(-1)?.error?.code, "deadline_exceeded");
    });

    it("dead-letters an unknown task with the reason, and fails its call with not_found", async () => {
      const reports = await call(
        "example.v1.MathTasks/Missing",
        '{"a": 1, "b": 1}',
        ...[
          "--queue",
          addQueue,
          "--request-type",
          "example.v1.AddRequest",
          "--response-type",
          "example.v1.AddResponse",
        ],
      );
      const final = reports.at(-1);
      assert.equal(final?.error?.code, "not_found");
      const dead = await broker.deadLetters(transport, addQueue);
      const mine = dead.find((letter) => Task.decode(letter.body).id === final?.id);
      assert.equal(mine?.reason, `not_found: no worker serves example.v1.MathTasks/Missing on queue ${addQueue}`);
    });
  });

  describe(`the Python caller cancels a task a TypeScript worker runs, over ${broker.name}`, { skip }, () => {
    const prefix = uniquePrefix("py-cancel");
    let tsWorker: LineProcess | undefined;
    after(async () => {
      await tsWorker?.kill();
      await broker.cleanup(prefix);
    });

    it("records and broadcasts CANCELLED, and the TypeScript handler is aborted", async () => {
      tsWorker = await startTsWorker([...broker.pythonArgs, "--prefix", prefix, "--work-ms", "60000"]);
      const reports = await pythonCall(
        startPython("caller.py", [
          ...flags(prefix),
          "example.v1.MathTasks/Add",
          '{"a": 1, "b": 1}',
          "--cancel-on",
          "received",
        ]),
      );
      assert.deepEqual(
        reports.map((report) => report.status),
        ["sent", "received", "cancelled"],
      );
      assert.equal(reports.at(-1)?.error?.code, "cancelled");
      // The broadcast aborted the handler (its FAILURE lost to the recorded CANCELLED).
      await tsWorker.waitFor(new RegExp(`^aborted ${reports[0]?.id} cancelled$`));
    });
  });

  describe(`a worker killed mid-task over ${broker.name}`, { skip }, () => {
    const prefixes: string[] = [];
    const processes: LineProcess[] = [];
    const closers: (() => Promise<void>)[] = [];
    after(async () => {
      await Promise.all(processes.map((child) => child.kill()));
      for (const close of closers) await close();
      for (const prefix of prefixes) await broker.cleanup(prefix);
    });

    it("a Python worker killed with SIGKILL: a TypeScript worker finishes its task", async () => {
      const prefix = uniquePrefix("kill-py");
      prefixes.push(prefix);
      const python = await startPythonWorker([...flags(prefix), "--lease-ms", "600"]);
      processes.push(python.process);
      const transport = broker.transport(prefix, true);
      closers.push(() => transport.close());
      const call = createClient(MathTasks, transport).countPrimes({ limit: 1_000_000 }, { reports: "all" });
      const reports = reportsOf(call);
      await python.process.waitFor(new RegExp(`^start example\\.v1\\.MathTasks/CountPrimes/${call.id} 1$`));
      await python.process.kill("SIGKILL");

      const worker = createWorker(transport);
      closers.unshift(() => worker.close());
      await worker.serve(MathTasks, interopHandlers);
      const seen = await reports;
      const final = seen.at(-1);
      assert.ok(final?.status === "success", `ended ${final?.status}`);
      assert.deepEqual(final.response, { count: 78498, largest: 999983 });
      assert.equal(final.workerId, worker.id, "the TypeScript worker finished it");
      assert.ok(
        seen.some((report) => report.status === "received" && report.workerId === python.id),
        "the Python worker had received it",
      );
    });

    it("a TypeScript worker killed with SIGKILL: a Python worker finishes its task", async () => {
      const prefix = uniquePrefix("kill-ts");
      prefixes.push(prefix);
      const tsWorker = await startTsWorker([...broker.pythonArgs, "--prefix", prefix, "--work-ms", "60000"]);
      processes.push(tsWorker);
      const caller = startPython("caller.py", [...flags(prefix), "example.v1.MathTasks/Add", '{"a": 20, "b": 22}']);
      processes.push(caller);
      const sent = JSON.parse(await caller.waitFor(/"status": "sent"/)) as PythonReport;
      await tsWorker.waitFor(new RegExp(`^start ${sent.id}$`));
      await tsWorker.kill("SIGKILL");

      const python = await startPythonWorker([...flags(prefix), "--lease-ms", "600"]);
      processes.push(python.process);
      const reports = await pythonCall(caller);
      const final = reports.at(-1);
      assert.equal(final?.status, "success");
      assert.deepEqual(final?.response, { sum: "42" });
      assert.equal(final?.workerId, python.id, "the Python worker finished it");
    });
  });
}
