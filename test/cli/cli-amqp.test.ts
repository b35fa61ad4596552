/**
 * `dingo worker` and `dingo call` as a user runs them, on RabbitMQ alone and in the
 * mixed mode (reports and results on Redis): each test starts a worker process on a
 * prefix of its own and calls it from other processes.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { MathTasks } from "../../generated/example/v1/math_dingo.js";
import { amqpNames } from "../../src/transport/amqp-names.js";
import { amqpUrl, openInspector, requireRabbitMq } from "../amqp-availability.js";
import { deleteKeys, redisUrl, requireRedis } from "../redis-availability.js";
import { DingoProcess, dingo, killAll, mathWorker, uniquePrefix } from "./dingo-process.js";

const available = await requireRabbitMq();
const redisAvailable = available && (await requireRedis());
after(killAll);

/**
 * Deletes what the processes declared under `prefix` (docs/WIRE.md, RabbitMQ mapping):
 * the task and dead-letter queues of MathTasks and the exchanges. Callers' inboxes and
 * the workers' broadcast queues go away with their processes.
 */
async function cleanup(prefix: string): Promise<void> {
  const names = amqpNames(prefix);
  const inspector = await openInspector();
  try {
    const channel = await inspector.createChannel();
    for (const method of Object.values(MathTasks.methods)) {
      await channel.deleteQueue(names.taskQueue(method.taskName));
      await channel.deleteQueue(names.deadQueue(method.taskName));
    }
    for (const exchange of [names.tasks, names.dead, names.broadcast]) await channel.deleteExchange(exchange);
    await channel.close();
  } finally {
    await inspector.close();
  }
}

async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    await deleteKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

describe("dingo worker and dingo call on RabbitMQ", {
  concurrency: true,
  timeout: 45_000,
  skip: available ? false : `RabbitMQ is not reachable at ${amqpUrl}`,
}, () => {
  it("call prints the result, a failure exits 67 with its code, --watch prints the reports", async (t) => {
    const prefix = uniquePrefix("amqp");
    t.after(() => cleanup(prefix));
    const env = { DINGO_TRANSPORT: amqpUrl, DINGO_PREFIX: prefix };
    const worker = new DingoProcess(["worker", mathWorker, "--concurrency", "4"], env);
    const ready = await worker.waitFor(/ ready /);
    assert.match(ready, /transport=amqp:\/\/guest:\*\*\*@/, "the password is not logged");
    const [add, divide, watched] = await Promise.all([
      dingo(["call", "example.v1.MathTasks/Add", '{"a":1,"b":2}'], env),
      dingo(["call", "example.v1.MathTasks/Divide", '{"dividend":1,"divisor":0}'], env),
      dingo(["call", "example.v1.MathTasks/CountPrimes", '{"limit":20,"reportEvery":10}', "--watch"], env),
    ]);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, '{"sum":3}\n');
    assert.equal(divide.code, 67);
    assert.match(
      divide.stderr,
      /^dingo: example\.v1\.MathTasks\/Divide failed: invalid_argument: divisor must not be zero\n$/,
    );
    assert.equal(watched.code, 0, watched.stderr);
    assert.equal(watched.stdout, '{"count":8,"largest":19}\n');
    const statuses = watched.stderr
      .trim()
      .split("\n")
      .map((line) => line.split(/\s+/)[1]);
    assert.deepEqual(statuses, ["sent", "received", "progress", "success"]);
    worker.kill("SIGTERM");
    const exit = await worker.exited;
    assert.equal(exit.code, 0, exit.stderr);
    assert.match(
      exit.stdout,
      / task-failed name=example\.v1\.MathTasks\/Divide id=\S+ attempt=1 code=invalid_argument /,
    );
  });

  it("the mixed mode: tasks on RabbitMQ, reports and results on Redis (--results)", {
    skip: redisAvailable ? false : `Redis is not reachable at ${redisUrl}`,
  }, async (t) => {
    const prefix = uniquePrefix("mixed");
    t.after(async () => {
      await cleanup(prefix);
      await deleteRedisKeys(prefix);
    });
    const env = { DINGO_TRANSPORT: amqpUrl, DINGO_RESULTS: redisUrl, DINGO_PREFIX: prefix };
    const worker = new DingoProcess(["worker", mathWorker], env);
    assert.match(
      await worker.waitFor(/ ready /),
      /transport="amqp:\/\/guest:\*\*\*@[^ ]+ \(results: redis:\/\/[^)]+\)"/,
    );
    const add = await dingo(["call", "example.v1.MathTasks/Add", '{"a":40,"b":2}', "--watch"], env);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, '{"sum":42}\n');
    assert.match(add.stderr, / received +id=\S+ attempt=1 worker=/);
    worker.kill("SIGINT");
    assert.equal((await worker.exited).code, 0);
  });
});
