/**
 * `dingo inspect` as an operator runs it: the queues of a Redis prefix found without
 * naming them, the table, `--watch` until SIGINT; RabbitMQ needing `--queues`; bad input
 * in one line. The counts themselves are checked in cli-dead.test.ts.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Transport } from "../../src/index.js";
import { createRedisTransport } from "../../src/transport/redis-transport.js";
import { amqpUrl, requireRabbitMq } from "../amqp-availability.js";
import { deferred } from "../conformance/fixtures.js";
import { deletePrefix, redisUrl, requireRedis } from "../redis-availability.js";
import { assertOneLineError, DingoProcess, dingo, killAll, uniquePrefix } from "./dingo-process.js";

const [redisUp, rabbitUp] = await Promise.all([requireRedis(), requireRabbitMq()]);
after(killAll);

/** Publishes `count` tasks (opaque bytes: inspect does not read them) to `queue`. */
async function publish(transport: Transport, queue: string, count: number, notBeforeMs = 0): Promise<void> {
  for (let n = 0; n < count; n++) {
    await transport.tasks.publish({ id: `${queue}-${n}`, queue, body: new Uint8Array([n]), priority: 0, notBeforeMs });
  }
}

describe("dingo inspect on Redis", {
  concurrency: true,
  timeout: 30_000,
  skip: redisUp ? false : `Redis is not reachable at ${redisUrl}`,
}, () => {
  /** A prefix with tasks in two queues; deleted after the test. */
  async function populated(t: { after(fn: () => Promise<void>): void }) {
    const prefix = uniquePrefix("inspect");
    const transport = createRedisTransport({ url: redisUrl, prefix });
    t.after(async () => {
      await transport.close();
      await deletePrefix(prefix);
    });
    await publish(transport, "mail", 2);
    await publish(transport, "mail", 1, Date.now() + 60_000);
    await publish(transport, "billing.v1/Charge", 3);
    return prefix;
  }

  it("finds the prefix's queues and prints one row each", async (t) => {
    const prefix = await populated(t);
    const exit = await dingo(["inspect", "-t", redisUrl, "--prefix", prefix]);
    assert.equal(exit.code, 0, exit.stderr);
    assert.equal(
      exit.stdout,
      "QUEUE              WAITING  DELAYED  IN FLIGHT  DEAD  CONSUMERS\n" +
        "billing.v1/Charge        3        0          0     0          0\n" +
        "mail                     2        1          0     0          0\n",
    );
    const only = await dingo(["inspect", "-t", redisUrl, "--prefix", prefix, "--queues", "mail, unknown", "--json"]);
    assert.equal(only.code, 0, only.stderr);
    const json = JSON.parse(only.stdout) as { at: string; queues: { queue: string; waiting: number }[] };
    assert.ok(!Number.isNaN(Date.parse(json.at)));
    assert.deepEqual(
      json.queues.map((stats) => [stats.queue, stats.waiting]),
      [
        ["mail", 2],
        ["unknown", 0],
      ],
    );
  });

  it("--watch prints a block per refresh until SIGINT, then exits 0", async (t) => {
    const prefix = await populated(t);
    const inspect = new DingoProcess(["inspect", "-t", redisUrl, "--prefix", prefix, "--watch", "100"]);
    const twoBlocks = deferred();
    inspect.child.stdout?.on("data", () => {
      if ((inspect.stdout.match(/^QUEUE /gm) ?? []).length >= 2) twoBlocks.resolve();
    });
    await twoBlocks.promise;
    inspect.kill("SIGINT");
    const exit = await inspect.exited;
    assert.equal(exit.code, 0, exit.stderr);
    assert.equal(exit.stderr, "");
    const blocks = exit.stdout.split("\n\n");
    assert.ok(blocks.length >= 2);
    for (const block of blocks) {
      assert.match(block, /^\d{4}-\d\d-\d\dT[\d:.]+Z\nQUEUE +WAITING/, "not a terminal: blocks one after another");
      assert.match(block, /\nmail +2 +1 +0 +0 +0(\n|$)/);
    }
  });

  it("--watch --json prints one JSON document per line", async (t) => {
    const prefix = await populated(t);
    const inspect = new DingoProcess(["inspect", "-t", redisUrl, "--prefix", prefix, "--watch", "100", "--json"]);
    const twoLines = deferred();
    inspect.child.stdout?.on("data", () => {
      if (inspect.stdout.split("\n").length > 2) twoLines.resolve();
    });
    await twoLines.promise;
    inspect.kill("SIGINT");
    const exit = await inspect.exited;
    assert.equal(exit.code, 0, exit.stderr);
    for (const line of exit.stdout.trimEnd().split("\n")) {
      const snapshot = JSON.parse(line) as { queues: { queue: string }[] };
      assert.deepEqual(
        snapshot.queues.map((stats) => stats.queue),
        ["billing.v1/Charge", "mail"],
      );
    }
  });
});

describe("dingo inspect on bad input", { concurrency: true, timeout: 30_000 }, () => {
  it("RabbitMQ without --queues", { skip: rabbitUp ? false : `RabbitMQ is not reachable at ${amqpUrl}` }, async () => {
    assertOneLineError(
      await dingo(["inspect", "-t", amqpUrl, "--prefix", uniquePrefix("inspect")]),
      /RabbitMQ cannot list its queues; name them with --queues a,b/,
    );
  });

  it("an unreachable broker", async () => {
    assertOneLineError(
      await dingo(["inspect", "-t", "redis://127.0.0.1:1"]),
      /cannot reach Redis at redis:\/\/127\.0\.0\.1:1/,
    );
  });

  it("memory:, no transport, an empty --queues", async () => {
    assertOneLineError(await dingo(["inspect", "-t", "memory:"]), /memory: queues live inside one process/);
    assertOneLineError(await dingo(["inspect"]), /no transport: give --transport <url>/);
    assertOneLineError(await dingo(["inspect", "-t", "redis://127.0.0.1:1", "-q", " , "]), /--queues: no queue given/);
  });

  it("a --watch interval below 100 ms", async () => {
    const exit = await dingo(["inspect", "-t", "redis://127.0.0.1:1", "--watch", "5"]);
    assert.equal(exit.code, 1);
    assert.match(
      exit.stderr,
      /^error: option '-w, --watch \[ms\]' argument '5' is invalid\. Expected an integer >= 100\./,
    );
  });
});
