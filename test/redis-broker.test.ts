import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { createClient, createWorker, type Delivery, TaskError, type Transport } from "../src/index.js";
import { redisQueueKeys } from "../src/transport/redis-queue-keys.js";
import { ackScript, sendScript } from "../src/transport/redis-scripts.js";
import { createRedisTransport, type RedisTransportOptions } from "../src/transport/redis-transport.js";
import { conformanceServices, deferred, onlyAdd } from "./conformance/fixtures.js";
import { watchBroadcasts } from "./fixtures/broadcast-watch.js";
import { deleteKeys, redisUrl, requireRedis, scanKeys } from "./redis-availability.js";

const available = await requireRedis();

/** Names unique to one test, so that tests and files can share one Redis. */
function names() {
  const id = randomUUID().slice(0, 8);
  const prefix = `dingo-test-${id}`;
  const queue = `redis-${id}`;
  return { id, prefix, queue, keys: redisQueueKeys(prefix, queue) };
}

/** Polls `probe` with short waits until it returns true, for state that has no event to await. */
async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function task(queue: string, body: number[], notBeforeMs = 0) {
  return { id: randomUUID(), queue, body: new Uint8Array(body), priority: 0, notBeforeMs };
}

describe("redis transport", { skip: available ? false : `Redis is not reachable at ${redisUrl}` }, () => {
  let redis: Redis;
  const transports: Transport[] = [];
  const prefixes = new Set<string>();
  const open = (options: RedisTransportOptions): Transport => {
    const transport = createRedisTransport({ url: redisUrl, ...options });
    transports.push(transport);
    if (options.prefix !== undefined) prefixes.add(options.prefix);
    return transport;
  };

  before(() => {
    redis = new Redis(redisUrl);
  });
  after(async () => {
    await Promise.all(transports.map((transport) => transport.close()));
    for (const prefix of prefixes) await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it("reclaims the delivery of a consumer that died once its lease has passed, counting the delivery", async () => {
    const { prefix, queue, keys } = names();
    const dying = open({ prefix, leaseMs: 200 });
    const survivor = open({ prefix, leaseMs: 200, reclaimIntervalMs: 20 });
    await dying.tasks.publish(task(queue, [1, 2, 3]));
    const first = deferred<Delivery>();
    await dying.tasks.consume({ queues: [queue], prefetch: 1, onDelivery: first.resolve, onError: () => {} });
    const lost = await first.promise;
    const deliveredAt = Date.now();
    assert.equal(lost.deliveryCount, 1);
    // The process dies: nothing extends the lease and the delivery is never settled.
    await dying.close();

    const second = deferred<Delivery>();
    await survivor.tasks.consume({ queues: [queue], prefetch: 1, onDelivery: second.resolve, onError: () => {} });
    const again = await second.promise;
    assert.ok(Date.now() - deliveredAt >= 190, "not taken over before the lease passed");
    assert.equal(again.deliveryCount, 2);
    assert.deepEqual([...again.body], [1, 2, 3]);
    assert.equal(Object.getPrototypeOf(again.body), Uint8Array.prototype, "a plain Uint8Array");
    await again.ack();
    assert.equal(await redis.xlen(keys.ready[0] as string), 0, "an acked entry leaves its stream");
    const [pending] = (await redis.xpending(keys.ready[0] as string, "dingo")) as [number];
    assert.equal(pending, 0, "and the pending list");
  });

  it("extends the lease of a running delivery, so that a long task is not taken over", async () => {
    const { prefix, queue, keys } = names();
    const holder = open({ prefix, leaseMs: 150 });
    const thief = open({ prefix, leaseMs: 150, reclaimIntervalMs: 20 });
    await holder.tasks.publish(task(queue, [7]));
    const first = deferred<Delivery>();
    await holder.tasks.consume({ queues: [queue], prefetch: 1, onDelivery: first.resolve, onError: () => {} });
    const running = await first.promise;
    const stolen: Delivery[] = [];
    await thief.tasks.consume({ queues: [queue], prefetch: 1, onDelivery: (d) => stolen.push(d), onError: () => {} });
    // Runs for four leases while the other consumer looks for expired ones every 20 ms.
    const stream = keys.ready[0] as string;
    const idleTimes: number[] = [];
    const endsAt = Date.now() + 600;
    await until("four leases passed", async () => {
      const entries = (await redis.xpending(stream, "dingo", "-", "+", 10)) as [string, string, number, number][];
      idleTimes.push(entries[0]?.[2] ?? -1);
      return Date.now() >= endsAt;
    });
    assert.deepEqual(stolen, []);
    assert.ok(
      idleTimes.every((idle) => idle >= 0 && idle < 150),
      `idle time stays under the lease: ${idleTimes.join(",")}`,
    );
    await running.ack();
    assert.equal(running.deliveryCount, 1);
  });

  it("holds a delayed task in the delayed set and promotes it at its time", async () => {
    const { prefix, queue, keys } = names();
    // A long poll: only the due time this transport knows of can make it punctual.
    const transport = open({ prefix, delayPollMs: 60_000 });
    const received = deferred<Delivery>();
    await transport.tasks.consume({ queues: [queue], prefetch: 1, onDelivery: received.resolve, onError: () => {} });
    const notBeforeMs = Date.now() + 150;
    await transport.tasks.publish(task(queue, [9], notBeforeMs));
    assert.equal(await redis.zcard(keys.delayed), 1, "held in the delayed set");
    assert.equal(await redis.xlen(keys.ready[0] as string), 0, "not in the stream yet");
    const delivery = await received.promise;
    const at = Date.now();
    assert.ok(at >= notBeforeMs, "not before its time");
    assert.ok(at < notBeforeMs + 100, `at its time, not at the next poll (${at - notBeforeMs} ms late)`);
    assert.deepEqual([...delivery.body], [9]);
    assert.equal(await redis.exists(keys.delayed), 0, "the emptied delayed set is gone");
    await delivery.ack();
  });

  it("promotes a task delayed by another process at its time once a poll has seen it", async () => {
    const { prefix, queue } = names();
    const publisher = open({ prefix });
    const worker = open({ prefix, delayPollMs: 50 });
    const received = deferred<Delivery>();
    await worker.tasks.consume({ queues: [queue], prefetch: 1, onDelivery: received.resolve, onError: () => {} });
    const notBeforeMs = Date.now() + 200;
    await publisher.tasks.publish(task(queue, [4], notBeforeMs));
    const delivery = await received.promise;
    const at = Date.now();
    assert.ok(at >= notBeforeMs, "not before its time");
    // The worker's poll saw the set's head and woke at its score, not at the poll after.
    assert.ok(at < notBeforeMs + 50, `${at - notBeforeMs} ms late`);
    await delivery.ack();
  });

  it("writes dead letters with the envelope, the reason, the time and the delivery count", async () => {
    const { prefix, queue, keys } = names();
    const transport = open({ prefix, deadLetterTtlMs: 60_000 });
    const body = [0xff, 0x00, 0x7f, 0x80];
    await transport.tasks.publish(task(queue, body));
    const received = deferred<Delivery>();
    await transport.tasks.consume({ queues: [queue], prefetch: 1, onDelivery: received.resolve, onError: () => {} });
    const before = Date.now();
    await (await received.promise).deadLetter("not_found: nobody serves it");

    const entries = await redis.xrangeBuffer(keys.dead, "-", "+");
    assert.equal(entries.length, 1);
    const fields = new Map<string, Buffer>();
    const raw = entries[0]?.[1] ?? [];
    for (let i = 0; i + 1 < raw.length; i += 2) fields.set(String(raw[i]), raw[i + 1] as Buffer);
    assert.deepEqual([...(fields.get("task") ?? [])], body);
    assert.equal(String(fields.get("reason")), "not_found: nobody serves it");
    assert.ok(Number(String(fields.get("at"))) >= before);
    assert.equal(String(fields.get("deliveries")), "1");
    const ttl = await redis.pttl(keys.dead);
    assert.ok(ttl > 0 && ttl <= 60_000, `the dead-letter stream expires (pttl ${ttl})`);
    assert.equal(await redis.xlen(keys.ready[0] as string), 0, "and the task left its stream");

    const [letter] = await transport.admin.deadLetters(queue);
    assert.equal(letter?.reason, "not_found: nobody serves it");
    assert.deepEqual([...(letter?.body ?? [])], body);
    assert.equal(letter?.queue, queue);
  });

  it("leaves no key without an expiry after a run, except the queues' ready streams; stopped consumers leave their groups", async () => {
    const { id, prefix } = names();
    const services = conformanceServices(id);
    const transport = open({ prefix, resultTtlMs: 60_000 });
    const worker = createWorker(transport);
    let failedOnce = false;
    await worker.serve(
      services.Tasks,
      onlyAdd(({ a, b }) => {
        if (a === 1 && !failedOnce) {
          failedOnce = true;
          throw new TaskError("once more", "unavailable");
        }
        return { sum: a + b };
      }),
    );
    const tasks = createClient(services.Tasks, transport, { taskOptions: { maxAttempts: 2, initialBackoffMs: 5 } });
    await tasks.add({ a: 2, b: 2 });
    await tasks.add({ a: 1, b: 1 }, { reports: "all" }); // a retry through the delayed set
    await tasks.add({ a: 3 }, { id: `explicit-${id}` }); // a claim
    await tasks.add({ a: 4 }, { delayMs: 20 });
    const queued = createClient(services.Second, transport).add({ a: 5 });
    await queued.sent;
    await queued.cancel(); // a broadcast and a recorded cancellation
    await assert.rejects(async () => await createClient(services.Unserved, transport).missing({}), TaskError); // a dead letter
    await worker.close();
    await transport.close();

    const found = await scanKeys(redis, prefix);
    const ready = found.filter((key) => /:ready:\d$/.test(key));
    assert.ok(ready.length >= 10, "the ready streams are there");
    assert.ok(
      found.some((key) => key.includes(":result:")),
      "results are kept",
    );
    assert.ok(
      found.some((key) => key.endsWith(":dead")),
      "dead letters are kept",
    );
    for (const key of found) {
      if (ready.includes(key)) {
        assert.equal(await redis.type(key), "stream");
        for (const group of (await redis.xinfo("GROUPS", key)) as unknown[][]) {
          const consumers = group[group.indexOf("consumers") + 1];
          assert.equal(consumers, 0, `no consumer left in the group of ${key}`);
        }
        continue;
      }
      const ttl = await redis.pttl(key);
      assert.ok(ttl > 0, `${key} (${await redis.type(key)}) expires (pttl ${ttl})`);
    }
  });

  it("resumes consuming and receiving reports after its connections are killed", async () => {
    const { id, prefix } = names();
    const services = conformanceServices(id);
    const transport = open({ prefix });
    const worker = createWorker(transport);
    await worker.serve(
      services.Tasks,
      onlyAdd(({ a, b }) => ({ sum: a + b })),
    );
    const tasks = createClient(services.Tasks, transport);
    assert.deepEqual(await tasks.add({ a: 1, b: 1 }), { sum: 2 });
    const ours = async () => {
      const list = String(await redis.client("LIST"));
      return list
        .split("\n")
        .filter((line) => line.includes(` name=${prefix}:`))
        .map((line) => /\bid=(\d+)/.exec(line)?.[1] ?? "");
    };
    const killed = await ours();
    assert.ok(killed.length >= 4, "commands, consumer, inbox and broadcast connections");
    for (const client of killed) await redis.client("KILL", "ID", client);
    assert.deepEqual(await tasks.add({ a: 2, b: 3 }), { sum: 5 });
    await until("every connection is back", async () => (await ours()).length >= killed.length);
    assert.deepEqual(await tasks.add({ a: 20, b: 22 }), { sum: 42 });
    await worker.close();
  });
  it("tells subscribers when the broadcast connection breaks and when it listens again", async () => {
    const { prefix } = names();
    const transport = open({ prefix });
    const watch = await watchBroadcasts(transport.reports);
    const list = String(await redis.client("LIST"));
    const broadcast = list
      .split("\n")
      .filter((line) => line.includes(` name=${prefix}:broadcast`))
      .map((line) => /\bid=(\d+)/.exec(line)?.[1] ?? "");
    assert.equal(broadcast.length, 1);
    await redis.client("KILL", "ID", broadcast[0] as string);
    await watch.relinked;
    assert.deepEqual(watch.links.slice(watch.links.indexOf(false)), [false, true]);
    // Subscribed again: a broadcast is heard.
    assert.deepEqual(await watch.broadcastAndHear(), [7]);
  });

  it("runs the acks of one tick as one script per stream, and the reports of one tick as one per inbox, in order", async () => {
    const { prefix, queue, keys } = names();
    const connection = new Redis(redisUrl);
    const sha = (lua: string) => createHash("sha1").update(lua).digest("hex");
    const scripts = new Map([
      [sha(ackScript), "ack"],
      [sha(sendScript), "send"],
    ]);
    // Every ack and send script run on the command connection: its name and its keys and arguments.
    const runs: { script: string; args: unknown[] }[] = [];
    const sendCommand = connection.sendCommand.bind(connection);
    connection.sendCommand = ((command: { name: string; args: unknown[] }, ...rest: unknown[]) => {
      if (command.name === "evalsha" || command.name === "eval") {
        const script = command.name === "evalsha" ? scripts.get(String(command.args[0])) : undefined;
        const lua = command.name === "eval" ? String(command.args[0]) : undefined;
        const name = script ?? (lua === ackScript ? "ack" : lua === sendScript ? "send" : undefined);
        if (name !== undefined) runs.push({ script: name, args: command.args.slice(2).map(String) });
      }
      return (sendCommand as (...args: unknown[]) => unknown)(command, ...rest);
    }) as typeof connection.sendCommand;
    const transport = open({ connection, prefix });
    try {
      for (let i = 0; i < 5; i++) await transport.tasks.publish(task(queue, [i]));
      const deliveries: Delivery[] = [];
      const all = deferred<void>();
      await transport.tasks.consume({
        queues: [queue],
        prefetch: 5,
        onDelivery: (delivery) => {
          deliveries.push(delivery);
          if (deliveries.length === 5) all.resolve();
        },
        onError: () => {},
      });
      await all.promise;
      const received: number[] = [];
      const five = deferred<void>();
      const inbox = await transport.reports.openInbox({
        onReport: (report) => {
          received.push(report[0] as number);
          if (received.length === 5) five.resolve();
        },
        onError: () => {},
      });

      // In one tick each: five reports to one inbox, five acks of one stream.
      await Promise.all([0, 1, 2, 3, 4].map((i) => transport.reports.send(inbox.address, new Uint8Array([i]))));
      await Promise.all(deliveries.map((delivery) => delivery.ack()));
      await five.promise;

      assert.deepEqual(received, [0, 1, 2, 3, 4], "the reports arrive in the order they were sent");
      const sends = runs.filter((run) => run.script === "send");
      assert.equal(sends.length, 1, "one send script for the five reports");
      assert.equal(sends[0]?.args.length, 2 + 5 + 1, "inbox, marker, five reports, retention");
      const acks = runs.filter((run) => run.script === "ack");
      assert.equal(acks.length, 1, "one ack script for the five deliveries");
      assert.deepEqual(acks[0]?.args.slice(0, 2), [keys.ready[0], "dingo"]);
      assert.deepEqual(
        [...(acks[0]?.args.slice(2) ?? [])].sort(),
        deliveries.map((delivery) => (delivery as unknown as { id: string }).id).sort(),
      );
      assert.equal(await redis.xlen(keys.ready[0] as string), 0, "the acked entries left the stream");
      const [pending] = (await redis.xpending(keys.ready[0] as string, "dingo")) as [number];
      assert.equal(pending, 0, "and the group's pending list");
    } finally {
      await transport.close();
      connection.disconnect();
    }
  });

  it("consumes through two lanes at a concurrency of 16, on connections of their own, closed with the worker", async (t) => {
    const { id, prefix } = names();
    const transport = open({ prefix });
    const services = conformanceServices(id);
    const commandConnections = async () =>
      String(await redis.client("LIST"))
        .split("\n")
        .filter((line) => line.includes(` name=${prefix}:commands`)).length;
    const consumersOf = async () => {
      const stream = redisQueueKeys(prefix, services.queue).ready[0] as string;
      return ((await redis.xinfo("CONSUMERS", stream, "dingo")) as unknown[]).length;
    };
    const worker = createWorker(transport, { concurrency: 16 });
    // Closed however the test ends: the fork's connections would keep the file running.
    t.after(() => worker.close());
    await worker.serve(
      services.Tasks,
      onlyAdd(({ a, b }) => ({ sum: a + b })),
    );
    assert.equal(await commandConnections(), 2, "the transport's and its fork's");
    const math = createClient(services.Tasks, transport);
    const sums = await Promise.all(Array.from({ length: 200 }, (_, a) => math.add({ a, b: 1 })));
    assert.deepEqual(
      sums.map((response) => response.sum),
      Array.from({ length: 200 }, (_, a) => a + 1),
    );
    // A consumer joins its group with its first read: both lanes have read by now.
    assert.equal(await consumersOf(), 2, "one consumer per lane");
    await worker.close();
    assert.equal(await commandConnections(), 1, "the fork is closed with the worker; the transport stays open");
  });

  it("works on a connection passed in and never closes it", async () => {
    const { id, prefix } = names();
    const connection = new Redis(redisUrl);
    try {
      const transport = open({ connection, prefix });
      const services = conformanceServices(id);
      const worker = createWorker(transport);
      await worker.serve(
        services.Tasks,
        onlyAdd(({ a, b }) => ({ sum: a + b })),
      );
      assert.deepEqual(await createClient(services.Tasks, transport).add({ a: 2, b: 3 }), { sum: 5 });
      await worker.close();
      await transport.close();
      // Still the user's to use.
      assert.equal(connection.status, "ready");
      assert.equal(await connection.ping(), "PONG");
    } finally {
      connection.disconnect();
    }
  });
});
