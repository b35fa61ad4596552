/**
 * `dingo worker` and `dingo call` as a user runs them, on Redis: each test starts a
 * worker process on a prefix of its own and calls it from other processes.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { deleteKeys, redisUrl, requireRedis } from "../redis-availability.js";
import { DingoProcess, dingo, killAll, mathWorker, slowWorker, uniquePrefix } from "./dingo-process.js";

const available = await requireRedis();
after(killAll);

/** A worker on a fresh prefix, ready; `cleanup` deletes the prefix's keys. */
async function startWorker(module: string, label: string, ...flags: string[]) {
  const prefix = uniquePrefix(label);
  const worker = new DingoProcess(["worker", module, "--prefix", prefix, ...flags], { DINGO_TRANSPORT: redisUrl });
  await worker.waitFor(/ ready |"event":"ready"/);
  return { worker, prefix };
}

async function cleanup(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    await deleteKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

const callArgs = (prefix: string, ...args: string[]): string[] => ["call", ...args, "-t", redisUrl, "--prefix", prefix];

describe("dingo worker and dingo call on Redis", {
  concurrency: true,
  timeout: 45_000,
  skip: available ? false : `Redis is not reachable at ${redisUrl}`,
}, () => {
  it("call prints the typed result; a failure exits 64 + the code; the worker logs each task", async (t) => {
    const { worker, prefix } = await startWorker(mathWorker, "add");
    t.after(() => cleanup(prefix));
    const [add, divide] = await Promise.all([
      dingo(callArgs(prefix, "example.v1.MathTasks/Add", '{"a":1,"b":2}')),
      dingo(callArgs(prefix, "example.v1.MathTasks/Divide", '{"dividend":1,"divisor":0}')),
    ]);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, '{"sum":3}\n');
    assert.equal(add.stderr, "");
    assert.equal(divide.code, 67, "64 + INVALID_ARGUMENT (3)");
    assert.equal(divide.stdout, "");
    assert.equal(
      divide.stderr,
      "dingo: example.v1.MathTasks/Divide failed: invalid_argument: divisor must not be zero\n",
    );
    await worker.waitFor(/ task-failed name=example\.v1\.MathTasks\/Divide id=\S+ attempt=1 code=invalid_argument/);
    worker.kill("SIGTERM");
    const exit = await worker.exited;
    assert.equal(exit.code, 0, exit.stderr);
    assert.match(exit.stdout, /info {2}task-received name=example\.v1\.MathTasks\/Add id=[0-9a-f-]{36} attempt=1\n/);
    assert.match(
      exit.stdout,
      /info {2}task-succeeded name=example\.v1\.MathTasks\/Add id=[0-9a-f-]{36} attempt=1 duration_ms=/,
    );
    assert.match(exit.stdout, /info {2}stopped duration_ms=\d+ forced=false\n$/);
  });

  it("--watch prints every report on stderr as it arrives; --id, --header, --priority, --attempts are accepted", async (t) => {
    const { worker, prefix } = await startWorker(mathWorker, "watch", "--log-format", "json");
    t.after(() => cleanup(prefix));
    const id = `cli-${prefix}`;
    const call = await dingo(
      callArgs(
        prefix,
        "example.v1.MathTasks/CountPrimes",
        '{"limit":100,"report_every":50}',
        "--watch",
        "--id",
        id,
        "-H",
        "tenant=acme",
        "--priority",
        "9",
        "--attempts",
        "2",
      ),
    );
    assert.equal(call.code, 0, call.stderr);
    assert.equal(call.stdout, '{"count":25,"largest":97}\n');
    const statuses = call.stderr
      .trim()
      .split("\n")
      .map((line) => {
        assert.match(line, new RegExp(` id=${id}`));
        return line.split(/\s+/)[1];
      });
    assert.deepEqual(statuses, ["sent", "received", "progress", "success"]);
    assert.match(call.stderr, /progress {2}id=\S+ attempt=1 percent=50\.0 message="15 primes below 50"/);
    assert.match(call.stderr, /success {3}id=\S+ attempt=1 worker=\S+ response=\{"count":25,"largest":97\}/);
    const succeeded = JSON.parse(await worker.waitFor(/"event":"task-succeeded"/)) as Record<string, unknown>;
    assert.equal(succeeded.id, id);
    assert.equal(succeeded.name, "example.v1.MathTasks/CountPrimes");
    worker.kill("SIGTERM");
    assert.equal((await worker.exited).code, 0);
  });

  it("SIGTERM drains the task in flight and exits 0", async (t) => {
    // The slow fixture's CountPrimes starts counting only once the worker got SIGTERM.
    const { worker, prefix } = await startWorker(slowWorker, "drain");
    t.after(() => cleanup(prefix));
    const call = dingo(callArgs(prefix, "example.v1.MathTasks/CountPrimes", '{"limit":10}'));
    await worker.waitFor(/ task-received name=example\.v1\.MathTasks\/CountPrimes /);
    worker.kill("SIGTERM");
    const exit = await worker.exited;
    assert.equal(exit.code, 0, exit.stderr);
    const events = exit.stdout.split("\n").map((line) => line.split(/\s+/)[2]);
    assert.deepEqual(events.slice(1, -1), ["task-received", "stopping", "task-succeeded", "stopped"]);
    const result = await call;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '{"count":4,"largest":7}\n');
  });

  it("--shutdown-timeout gives the running task back: exit 75, and another worker completes it", async (t) => {
    // The slow fixture's Divide runs until its signal aborts.
    const { worker, prefix } = await startWorker(slowWorker, "forced", "--shutdown-timeout", "50");
    t.after(() => cleanup(prefix));
    const call = dingo(callArgs(prefix, "example.v1.MathTasks/Divide", '{"dividend":6,"divisor":3}'));
    await worker.waitFor(/ task-received name=example\.v1\.MathTasks\/Divide /);
    worker.kill("SIGTERM");
    const exit = await worker.exited;
    assert.equal(exit.code, 75, exit.stderr);
    assert.match(exit.stdout, /stopped duration_ms=\d+ forced=true\n$/);
    assert.match(exit.stderr, /^dingo: shutdown forced after 50 ms: running tasks were given back for redelivery\n$/);
    const second = new DingoProcess(["worker", mathWorker, "--prefix", prefix, "-t", redisUrl]);
    const result = await call;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '{"quotient":2}\n');
    await second.waitFor(/ task-succeeded name=example\.v1\.MathTasks\/Divide id=\S+ attempt=1/);
    second.kill("SIGTERM");
    assert.equal((await second.exited).code, 0);
  });

  it("--timeout bounds the wait: exit 68 (deadline_exceeded) when no worker serves the task", async (t) => {
    const prefix = uniquePrefix("timeout");
    t.after(() => cleanup(prefix));
    const call = await dingo(callArgs(prefix, "example.v1.MathTasks/Add", "{}", "--timeout", "200"));
    assert.equal(call.code, 68, call.stderr);
    assert.match(call.stderr, /^dingo: example\.v1\.MathTasks\/Add failed: deadline_exceeded: [^\n]+\n$/);
  });
});
