/**
 * `dingo worker` and `dingo call` on bad input and unreachable brokers, and on the memory
 * transport: one clear line and a non-zero exit, never a stack trace. No broker needed.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { assertOneLineError, type DingoExit, DingoProcess, dingo, killAll, mathWorker } from "./dingo-process.js";

after(killAll);

/** Nowhere: a loopback port nothing listens on. */
const closedRedis = "redis://127.0.0.1:1";
const closedAmqp = "amqp://guest:guest@127.0.0.1:1";

const call = (...args: string[]): Promise<DingoExit> => dingo(["call", ...args, "--transport", closedRedis]);

describe("dingo call rejects bad input before connecting", { concurrency: true, timeout: 45_000 }, () => {
  it("an unknown task, listing the known ones", async () => {
    assertOneLineError(
      await call("example.v1.MathTasks/Multiply", "{}"),
      /unknown task example\.v1\.MathTasks\/Multiply \(tasks in proto: .*example\.v1\.MathTasks\/Add/,
    );
  });

  it("a task name without a method", async () => {
    assertOneLineError(
      await call("example.v1.MathTasks", "{}"),
      /not a task name; write <package>\.<Service>\/<Method>/,
    );
  });

  it("malformed JSON", async () => {
    assertOneLineError(await call("example.v1.MathTasks/Add", '{"a": 1,'), /the request is not valid JSON/);
  });

  it("JSON that is not an object", async () => {
    assertOneLineError(
      await call("example.v1.MathTasks/Add", "[1, 2]"),
      /must be a JSON object \(example\.v1\.AddRequest\)/,
    );
  });

  it("an unknown field, naming it and the known ones", async () => {
    assertOneLineError(
      await call("example.v1.MathTasks/Add", '{"a": 1, "c": 2}'),
      /invalid example\.v1\.AddRequest: c: unknown field \(fields of example\.v1\.AddRequest: a, b\)/,
    );
  });

  it("a wrong type, naming the field", async () => {
    assertOneLineError(
      await call("example.v1.MathTasks/Add", '{"a": "one"}'),
      /invalid example\.v1\.AddRequest: a: an integer \(int64\) expected, got "one"/,
    );
    assertOneLineError(
      await call("example.v1.MathTasks/Divide", '{"dividend": true}'),
      /invalid example\.v1\.DivideRequest: dividend: number expected/,
    );
  });

  it("an out-of-range integer, naming the field (original field names are accepted)", async () => {
    assertOneLineError(
      await call("example.v1.MathTasks/CountPrimes", '{"limit": 10, "report_every": -1}'),
      /invalid example\.v1\.CountPrimesRequest: reportEvery: -1 is out of range for uint32/,
    );
  });

  it("a proto directory that does not exist", async () => {
    assertOneLineError(
      await call("example.v1.MathTasks/Add", "{}", "--proto", "no/such/dir"),
      /proto directory not found: no\/such\/dir/,
    );
  });

  it("no transport, the memory transport, an unknown scheme", async () => {
    assertOneLineError(
      await dingo(["call", "example.v1.MathTasks/Add", "{}"]),
      /no transport: give --transport <url> or set DINGO_TRANSPORT/,
    );
    assertOneLineError(
      await dingo(["call", "example.v1.MathTasks/Add", "{}"], { DINGO_TRANSPORT: "memory:" }),
      /memory: cannot be used by dingo call/,
    );
    assertOneLineError(
      await dingo(["call", "example.v1.MathTasks/Add", "{}", "-t", "kafka://x"]),
      /unsupported URL "kafka:\/\/x"/,
    );
  });

  it("a bad header", async () => {
    assertOneLineError(await call("example.v1.MathTasks/Add", "{}", "-H", "novalue"), /--header must be key=value/);
  });
});

describe("unreachable brokers and missing modules", { concurrency: true, timeout: 45_000 }, () => {
  it("dingo call: Redis on a closed port", async () => {
    assertOneLineError(
      await call("example.v1.MathTasks/Add", '{"a": 1}'),
      /cannot reach Redis at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/,
    );
  });

  it("dingo call: RabbitMQ on a closed port (the password is not printed)", async () => {
    const exit = await dingo(["call", "example.v1.MathTasks/Add", "{}", "-t", closedAmqp]);
    assertOneLineError(exit, /cannot reach RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1: connect ECONNREFUSED/);
  });

  it("dingo worker: Redis and RabbitMQ on a closed port", async () => {
    assertOneLineError(
      await dingo(["worker", mathWorker, "-t", closedRedis]),
      /cannot reach Redis at redis:\/\/127\.0\.0\.1:1/,
    );
    assertOneLineError(await dingo(["worker", mathWorker, "-t", closedAmqp]), /cannot reach RabbitMQ/);
  });

  it("dingo worker: a missing module", async () => {
    assertOneLineError(
      await dingo(["worker", "workers/missing.ts", "-t", closedRedis]),
      /worker module not found: workers\/missing\.ts/,
    );
  });

  it("dingo worker: a module without a default export", async () => {
    assertOneLineError(
      await dingo(["worker", "test/cli/dingo-process.ts", "-t", closedRedis]),
      /worker module test\/cli\/dingo-process\.ts has no default export/,
    );
  });

  it("dingo worker: --queues naming a queue the module does not serve", async () => {
    assertOneLineError(
      await dingo(["worker", mathWorker, "-t", "memory:", "--queues", "nope"]),
      /--queues: no task of the module is on nope \(its queues: example\.v1\.MathTasks\/Add,/,
    );
  });

  it("dingo worker: --results without an amqp:// transport", async () => {
    assertOneLineError(
      await dingo(["worker", mathWorker, "-t", closedRedis, "--results", closedRedis]),
      /--results is only for amqp:\/\/ and amqps:\/\/ transports/,
    );
  });
});

describe("dingo worker on the memory transport", { timeout: 45_000 }, () => {
  it("logs ready in JSON, and exits 0 on SIGINT", async () => {
    const worker = new DingoProcess(
      ["worker", mathWorker, "--log-format", "json", "--queues", "example.v1.MathTasks/Add"],
      {
        DINGO_TRANSPORT: "memory:",
      },
    );
    const ready = JSON.parse(await worker.waitFor(/"event":"ready"/)) as Record<string, unknown>;
    assert.equal(ready.level, "info");
    assert.equal(ready.transport, "memory:");
    assert.equal(ready.queues, "example.v1.MathTasks/Add", "--queues limits what is served");
    assert.equal(ready.concurrency, 16);
    worker.kill("SIGINT");
    const exit = await worker.exited;
    assert.equal(exit.code, 0, `${exit.signal} ${exit.stdout} ${exit.stderr}`);
    const events = exit.stdout
      .trim()
      .split("\n")
      .map((line) => (JSON.parse(line) as { event: string }).event);
    assert.deepEqual(events, ["memory-transport", "ready", "stopping", "stopped"]);
    assert.equal(exit.stderr, "");
  });
});

describe("help", { concurrency: true, timeout: 45_000 }, () => {
  it("dingo --help lists the commands", async () => {
    const exit = await dingo(["--help"]);
    assert.equal(exit.code, 0);
    for (const command of ["gen", "worker [options] <module>", "call [options] <task> [json]"]) {
      assert.ok(exit.stdout.includes(command), `${command} in ${exit.stdout}`);
    }
  });

  it("dingo help worker and dingo call --help document every option and the exit codes", async () => {
    const worker = await dingo(["help", "worker"]);
    for (const option of [
      "--transport",
      "DINGO_TRANSPORT",
      "--results",
      "--prefix",
      "--concurrency",
      "--queues",
      "--shutdown-timeout",
      "--log-format",
      "Exit codes",
      "defineWorkerModule",
    ]) {
      assert.ok(worker.stdout.includes(option), `${option} in dingo help worker`);
    }
    const call = await dingo(["call", "--help"]);
    for (const option of [
      "--transport",
      "--results",
      "--proto",
      "--watch",
      "--timeout",
      "--delay",
      "--attempts",
      "--priority",
      "--header",
      "--id",
      "67 invalid_argument",
    ]) {
      assert.ok(call.stdout.includes(option), `${option} in dingo call --help`);
    }
  });

  it("a usage error is one message and exit 1", async () => {
    const exit = await dingo(["call", "example.v1.MathTasks/Add", "{}", "--priority", "12", "-t", closedRedis]);
    assert.equal(exit.code, 1);
    assert.match(exit.stderr, /option '--priority <0-9>' argument '12' is invalid\. Expected an integer 0\.\.9\./);
    assert.doesNotMatch(exit.stderr, /\n\s+at /);
  });
});
