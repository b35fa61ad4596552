/**
 * `dingo inspect` and `dingo dead list | requeue | purge` as an operator runs them, on
 * Redis and on RabbitMQ: tasks published and dead-lettered by this process, counted,
 * listed, requeued, then run by a `dingo worker` process; a worker's own dead letter
 * purged. Bad input: one line, non-zero exit, never a stack trace.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { MathTasks } from "../../generated/example/v1/math_dingo.js";
import { createClient, type Delivery, type Transport } from "../../src/index.js";
import { createAmqpTransport } from "../../src/transport/amqp-transport.js";
import { createRedisTransport } from "../../src/transport/redis-transport.js";
import { amqpUrl, deleteTopology, openInspector, requireRabbitMq } from "../amqp-availability.js";
import { deferred } from "../conformance/fixtures.js";
import { deletePrefix, redisUrl, requireRedis } from "../redis-availability.js";
import {
  assertOneLineError,
  type DingoExit,
  DingoProcess,
  dingo,
  killAll,
  mathWorker,
  uniquePrefix,
} from "./dingo-process.js";

const [redisUp, rabbitUp] = await Promise.all([requireRedis(), requireRabbitMq()]);
after(killAll);

const queue = MathTasks.methods.add.taskName;

/** What `inspect --json` prints for one queue. */
interface QueueJson {
  queue: string;
  waiting: number;
  delayed: number | null;
  inFlight: number | null;
  dead: number;
  consumers: number;
}

/** What `dead list --json` prints per letter. */
interface LetterJson {
  id: string;
  task: string;
  taskId: string;
  reason: string;
  at: string;
  deliveries: number;
}

interface Broker {
  readonly name: string;
  readonly url: string;
  readonly skip: string | false;
  open(prefix: string): Transport;
  cleanup(transport: Transport, prefix: string): Promise<void>;
  /** Whether delays and in-flight tasks are counted per queue (not on RabbitMQ). */
  readonly countsPerQueue: boolean;
}

const brokers: Broker[] = [
  {
    name: "Redis",
    url: redisUrl,
    skip: redisUp ? false : `Redis is not reachable at ${redisUrl}`,
    open: (prefix) => createRedisTransport({ url: redisUrl, prefix }),
    async cleanup(_, prefix) {
      await deletePrefix(prefix);
    },
    countsPerQueue: true,
  },
  {
    name: "RabbitMQ",
    url: amqpUrl,
    skip: rabbitUp ? false : `RabbitMQ is not reachable at ${amqpUrl}`,
    open: (prefix) => createAmqpTransport({ url: amqpUrl, prefix }),
    async cleanup(transport, prefix) {
      const inspector = await openInspector();
      try {
        // The worker process declared the queues of every MathTasks method.
        const names = Object.values(MathTasks.methods).flatMap((method) => [
          `${prefix}.task.${method.taskName}`,
          `${prefix}.dead.${method.taskName}`,
        ]);
        await deleteTopology(inspector, transport, names);
        const channel = await inspector.createChannel();
        await channel.deleteExchange(`${prefix}.broadcast`);
        await channel.close();
      } finally {
        await inspector.close();
      }
    },
    countsPerQueue: false,
  },
];

describe("dingo inspect and dingo dead on the brokers", { concurrency: true }, () => {
  for (const broker of brokers) {
    describe(`dingo inspect and dingo dead on ${broker.name}`, { skip: broker.skip, timeout: 60_000 }, () => {
      it("counts, lists with reasons, requeues (then a worker runs them), purges with --yes", async (t) => {
        const prefix = uniquePrefix("dead");
        const transport = broker.open(prefix);
        t.after(async () => {
          await transport.close();
          await broker.cleanup(transport, prefix);
        });
        const cli = (...args: string[]): Promise<DingoExit> => dingo([...args, "-t", broker.url, "--prefix", prefix]);
        const inspect = async (): Promise<{ queues: QueueJson[]; sharedDelayed: number | null }> => {
          const exit = await cli("inspect", "--queues", queue, "--json");
          assert.equal(exit.code, 0, exit.stderr);
          return JSON.parse(exit.stdout);
        };
        const deadList = async (): Promise<LetterJson[]> => {
          const exit = await cli("dead", "list", queue, "--json");
          assert.equal(exit.code, 0, exit.stderr);
          return JSON.parse(exit.stdout);
        };
        const math = createClient(MathTasks, transport);

        // Two calls whose tasks this process takes and dead-letters, as a worker would.
        const held = [math.add({ a: 1, b: 2 }), math.add({ a: 20, b: 22 })];
        const taken: Delivery[] = [];
        const both = deferred();
        const consumer = await transport.tasks.consume({
          queues: [queue],
          prefetch: 2,
          onDelivery: (delivery) => {
            taken.push(delivery);
            if (taken.length === 2) both.resolve();
          },
          onError: () => {},
        });
        await both.promise;
        for (const [index, delivery] of taken.entries()) await delivery.deadLetter(`test: held back ${index + 1}`);
        await consumer.stop();
        // Three waiting, one delayed for a minute (never run here).
        const waiting = [math.add({ a: 1, b: 1 }), math.add({ a: 2, b: 2 }), math.add({ a: 3, b: 3 })];
        const delayed = math.add({ a: 0, b: 0 }, { delayMs: 60_000 });
        delayed.result.catch(() => {});
        await Promise.all([...waiting, delayed].map((call) => call.sent));

        const before = await inspect();
        assert.deepEqual(before.queues, [
          {
            queue,
            waiting: 3,
            delayed: broker.countsPerQueue ? 1 : null,
            inFlight: broker.countsPerQueue ? 0 : null,
            dead: 2,
            consumers: 0,
          },
        ]);
        assert.equal(before.sharedDelayed, broker.countsPerQueue ? null : 1);

        const table = await cli("dead", "list", queue);
        assert.equal(table.code, 0, table.stderr);
        const lines = table.stdout.trimEnd().split("\n");
        assert.match(lines[0] ?? "", /^ID +TASK +TASK ID +DEAD AT +DELIVERIES +REASON$/);
        assert.equal(lines.length, 3);
        for (const [index, line] of lines.slice(1).entries()) {
          assert.match(
            line,
            new RegExp(
              `example\\.v1\\.MathTasks/Add +[0-9a-f-]{36} +\\d{4}-\\d\\d-\\d\\dT\\S+Z +1 +test: held back ${index + 1}$`,
            ),
          );
        }
        const letters = await deadList();
        assert.deepEqual(
          letters.map((letter) => [letter.task, letter.reason, letter.deliveries]),
          [
            [queue, "test: held back 1", 1],
            [queue, "test: held back 2", 1],
          ],
        );
        assert.deepEqual(letters.map((letter) => letter.taskId).sort(), held.map((call) => call.id).sort());

        const byId = await cli("dead", "requeue", queue, letters[0]?.id as string);
        assert.equal(byId.code, 0, byId.stderr);
        assert.equal(byId.stdout, `requeued 1 dead letter to ${queue}\n`);
        const unknown = await cli("dead", "requeue", queue, letters[0]?.id as string);
        // What was requeued (nothing) is said before the error.
        assertOneLineError(unknown, /not among the dead letters of example\.v1\.MathTasks\/Add: /, {
          quietStdout: false,
        });
        assert.equal(unknown.stdout, `requeued 0 dead letters to ${queue}\n`);
        const all = await cli("dead", "requeue", queue, "--all");
        assert.equal(all.code, 0, all.stderr);
        assert.equal(all.stdout, `requeued 1 dead letter to ${queue}\n`);
        const requeued = await inspect();
        assert.equal(requeued.queues[0]?.waiting, 5);
        assert.equal(requeued.queues[0]?.dead, 0);

        // A task no worker can decode: the worker dead-letters it itself.
        await transport.tasks.publish({
          id: "garbage",
          queue,
          body: new Uint8Array([0xff, 0xff]),
          priority: 0,
          notBeforeMs: 0,
        });
        const worker = new DingoProcess(["worker", mathWorker, "-t", broker.url, "--prefix", prefix]);
        await worker.waitFor(/ ready /);
        assert.deepEqual(
          (await Promise.all([...held, ...waiting])).map((response) => response.sum),
          [3, 42, 2, 4, 6],
          "the requeued tasks ran, and their callers got the results",
        );
        await worker.waitFor(/ task-dead-lettered /);
        const [poison] = await deadList();
        assert.equal(poison?.task, "?");
        assert.match(poison?.reason ?? "", /^undecodable task envelope/);
        const serving = await inspect();
        assert.equal(serving.queues[0]?.consumers, 1);
        assert.equal(serving.queues[0]?.dead, 1);

        assertOneLineError(await cli("dead", "purge", queue), /stdin is not a terminal.*pass --yes/);
        assert.equal((await inspect()).queues[0]?.dead, 1, "nothing purged without --yes");
        const purge = await cli("dead", "purge", queue, "--yes");
        assert.equal(purge.code, 0, purge.stderr);
        assert.equal(purge.stdout, `purged 1 dead letter of ${queue}\n`);
        assert.deepEqual(await deadList(), []);

        worker.kill("SIGTERM");
        assert.equal((await worker.exited).code, 0);
      });
    });
  }
});

describe("dingo dead and dingo inspect on bad input", { concurrency: true, timeout: 30_000 }, () => {
  it("an unknown subcommand", async () => {
    const exit = await dingo(["dead", "frob"]);
    assert.equal(exit.code, 1);
    assert.match(exit.stderr, /^error: unknown command 'frob'\n/);
    assert.doesNotMatch(exit.stderr, /\n\s+at /);
  });

  it("requeue without ids or --all, and with both", async () => {
    assertOneLineError(
      await dingo(["dead", "requeue", "q", "-t", "redis://127.0.0.1:1"]),
      /ids from dead list\), or pass --all/,
    );
    assertOneLineError(
      await dingo(["dead", "requeue", "q", "1-0", "--all", "-t", "redis://127.0.0.1:1"]),
      /ids or --all, not both/,
    );
  });

  it("purge without --yes and no terminal, before connecting", async () => {
    assertOneLineError(await dingo(["dead", "purge", "q", "-t", "redis://127.0.0.1:1"]), /stdin is not a terminal/);
  });

  it("unreachable brokers", async () => {
    assertOneLineError(
      await dingo(["dead", "list", "q", "-t", "redis://127.0.0.1:1"]),
      /cannot reach Redis at redis:\/\/127\.0\.0\.1:1/,
    );
    assertOneLineError(
      await dingo(["dead", "purge", "q", "--yes", "-t", "amqp://guest:secret@127.0.0.1:1"]),
      /cannot reach RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1/,
    );
  });

  it("memory: has no queues outside its process", async () => {
    assertOneLineError(await dingo(["dead", "list", "q", "-t", "memory:"]), /memory: queues live inside one process/);
  });
});
