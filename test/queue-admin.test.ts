/**
 * The queue-administration seam (`transport.admin`) on every transport: counts after
 * publishing, delivering and dead-lettering; dead letters with their reasons; requeue
 * by id and all; purge. One scenario, run on memory, Redis and RabbitMQ.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import {
  createClient,
  createWorker,
  type Delivery,
  lookupResult,
  type OutgoingTask,
  TaskError,
  type Transport,
} from "../src/index.js";
import { requeueDeadLetters } from "../src/requeue-dead-letters.js";
import { createAmqpTransport } from "../src/transport/amqp-transport.js";
import { createMemoryTransport } from "../src/transport/memory-transport.js";
import { createRedisTransport } from "../src/transport/redis-transport.js";
import { amqpUrl, deleteTopology, openInspector, requireRabbitMq } from "./amqp-availability.js";
import { conformanceServices, deferred, onlyAdd } from "./conformance/fixtures.js";
import { deletePrefix, redisUrl, requireRedis } from "./redis-availability.js";

const [redisUp, rabbitUp] = await Promise.all([requireRedis(), requireRabbitMq()]);

/** How a transport under test is made and cleaned up, and what its admin can tell. */
interface Backend {
  readonly name: string;
  readonly skip: string | false;
  open(prefix: string): Transport;
  cleanup(transport: Transport, prefix: string): Promise<void>;
  /** Whether the broker counts delayed and in-flight tasks per queue (RabbitMQ does not). */
  readonly countsPerQueue: boolean;
  /** Whether the broker can list its queues (RabbitMQ over AMQP cannot). */
  readonly lists: boolean;
  /** Whether a stopped consumer still holding a delivery counts (Redis: it owns pending entries of the group). */
  readonly holderCounts: boolean;
}

const backends: Backend[] = [
  {
    name: "memory",
    skip: false,
    open: () => createMemoryTransport(),
    cleanup: async () => {},
    countsPerQueue: true,
    lists: true,
    holderCounts: false,
  },
  {
    name: "redis",
    skip: redisUp ? false : `Redis is not reachable at ${redisUrl}`,
    open: (prefix) => createRedisTransport({ url: redisUrl, prefix }),
    async cleanup(_, prefix) {
      await deletePrefix(prefix);
    },
    countsPerQueue: true,
    lists: true,
    holderCounts: true,
  },
  {
    name: "amqp",
    skip: rabbitUp ? false : `RabbitMQ is not reachable at ${amqpUrl}`,
    open: (prefix) => createAmqpTransport({ url: amqpUrl, prefix }),
    async cleanup(transport) {
      const inspector = await openInspector();
      try {
        await deleteTopology(inspector, transport);
      } finally {
        await inspector.close();
      }
    },
    countsPerQueue: false,
    lists: false,
    holderCounts: false,
  },
];

function task(queue: string, body: number, notBeforeMs = 0): OutgoingTask {
  return { id: `task-${body}-${randomUUID()}`, queue, body: new Uint8Array([body]), priority: 0, notBeforeMs };
}

/** Collects deliveries; `first(n)` resolves once `n` have arrived. */
function collector() {
  const arrived: Delivery[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  return {
    arrived,
    onDelivery(delivery: Delivery): void {
      arrived.push(delivery);
      for (const waiter of waiters.filter((w) => arrived.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    },
    async first(count: number): Promise<Delivery[]> {
      if (arrived.length < count) {
        const ready = deferred();
        waiters.push({ count, resolve: ready.resolve });
        await ready.promise;
      }
      return arrived.slice(0, count);
    },
  };
}

const opened: { backend: Backend; transport: Transport; prefix: string }[] = [];
after(async () => {
  for (const { backend, transport, prefix } of opened) {
    await transport.close();
    await backend.cleanup(transport, prefix);
  }
});

for (const backend of backends) {
  describe(`queue admin on ${backend.name}`, { skip: backend.skip, timeout: 30_000 }, () => {
    it("counts, lists dead letters with reasons, requeues by id and all, purges", async () => {
      const id = randomUUID().slice(0, 8);
      const prefix = `dingo-test-admin-${id}`;
      const queue = `admin-${id}`;
      const transport = backend.open(prefix);
      opened.push({ backend, transport, prefix });
      const { tasks, admin } = transport;

      assert.deepEqual(await admin.stats(queue), {
        queue,
        waiting: 0,
        delayed: backend.countsPerQueue ? 0 : undefined,
        inFlight: backend.countsPerQueue ? 0 : undefined,
        dead: 0,
        consumers: 0,
      });
      assert.deepEqual(await admin.deadLetters(queue), []);
      assert.deepEqual(await admin.requeue(queue, "all"), { requeued: 0, missing: [] });

      // Three tasks taken by a consumer: two dead-lettered, one left in flight.
      for (const body of [1, 2, 3]) await tasks.publish(task(queue, body));
      const deliveries = collector();
      const consumer = await tasks.consume({
        queues: [queue],
        prefetch: 3,
        onDelivery: deliveries.onDelivery,
        onError: () => {},
      });
      const [one, two, three] = (await deliveries.first(3)).sort((a, b) => (a.body[0] ?? 0) - (b.body[0] ?? 0));
      const before = Date.now();
      await one?.deadLetter("not_found: nobody serves it");
      await two?.deadLetter("aborted: delivered 11 times");
      const busy = await admin.stats(queue);
      assert.equal(busy.consumers, 1);
      assert.equal(busy.inFlight, backend.countsPerQueue ? 1 : undefined);
      await consumer.stop();

      // Two more waiting, one delayed.
      await tasks.publish(task(queue, 4));
      await tasks.publish(task(queue, 5));
      await tasks.publish(task(queue, 6, Date.now() + 60_000));
      assert.deepEqual(await admin.stats(queue), {
        queue,
        waiting: 2,
        delayed: backend.countsPerQueue ? 1 : undefined,
        inFlight: backend.countsPerQueue ? 1 : undefined,
        dead: 2,
        consumers: backend.holderCounts ? 1 : 0,
      });
      assert.equal(await admin.sharedDelayed(), backend.countsPerQueue ? undefined : 1, "the prefix's delay buckets");
      const queues = await admin.queues();
      if (backend.lists) assert.deepEqual(queues, [queue]);
      else assert.equal(queues, undefined);

      const letters = await admin.deadLetters(queue);
      assert.deepEqual(
        letters.map((letter) => [letter.queue, [...letter.body], letter.reason, letter.deliveries]),
        [
          [queue, [1], "not_found: nobody serves it", 1],
          [queue, [2], "aborted: delivered 11 times", 1],
        ],
      );
      for (const letter of letters)
        assert.ok(letter.atMs >= before - 5 && letter.atMs <= Date.now(), "dead-letter time");
      assert.deepEqual(await admin.deadLetters(queue, 1), letters.slice(1), "the newest, at most limit");
      assert.equal((await admin.deadLetters(queue)).length, 2, "listing leaves them in place");

      const first = letters[0]?.id as string;
      assert.notEqual(first, "");
      assert.deepEqual(await admin.requeue(queue, [first, "1-1", "nope"]), { requeued: 1, missing: ["1-1", "nope"] });
      const afterRequeue = await admin.stats(queue);
      assert.equal(afterRequeue.waiting, 3);
      assert.equal(afterRequeue.dead, 1);
      assert.deepEqual(
        (await admin.deadLetters(queue)).map((letter) => letter.reason),
        ["aborted: delivered 11 times"],
      );

      // The requeued task comes back as a fresh delivery, with the waiting ones.
      await three?.ack();
      const again = collector();
      const second = await tasks.consume({
        queues: [queue],
        prefetch: 10,
        onDelivery: again.onDelivery,
        onError: () => {},
      });
      const redelivered = await again.first(3);
      assert.deepEqual(redelivered.map((delivery) => delivery.body[0]).sort(), [1, 4, 5]);
      assert.deepEqual(
        redelivered.map((delivery) => delivery.deliveryCount),
        [1, 1, 1],
      );
      for (const delivery of redelivered) await delivery.ack();
      await second.stop();

      assert.equal(await admin.purge(queue), 1);
      assert.equal(await admin.purge(queue), 0);
      assert.deepEqual(await admin.deadLetters(queue), []);
      const drained = await admin.stats(queue);
      assert.equal(drained.waiting, 0);
      assert.equal(drained.dead, 0);
      assert.equal(drained.inFlight, backend.countsPerQueue ? 0 : undefined);
    });

    it("requeue all moves every dead letter back, in order", async () => {
      const id = randomUUID().slice(0, 8);
      const prefix = `dingo-test-admin-${id}`;
      const queue = `admin-all-${id}`;
      const transport = backend.open(prefix);
      opened.push({ backend, transport, prefix });
      const { tasks, admin } = transport;
      const count = 5;
      for (let body = 0; body < count; body++) await tasks.publish(task(queue, body));
      const deliveries = collector();
      const consumer = await tasks.consume({
        queues: [queue],
        prefetch: count,
        onDelivery: deliveries.onDelivery,
        onError: () => {},
      });
      for (const delivery of await deliveries.first(count)) await delivery.deadLetter(`reason ${delivery.body[0]}`);
      await consumer.stop();
      assert.equal((await admin.stats(queue)).dead, count);
      assert.deepEqual(await admin.requeue(queue, "all"), { requeued: count, missing: [] });
      const stats = await admin.stats(queue);
      assert.equal(stats.dead, 0);
      assert.equal(stats.waiting, count);
    });

    it("requeues a dead letter at the priority it was delivered at", async () => {
      const id = randomUUID().slice(0, 8);
      const prefix = `dingo-test-admin-${id}`;
      const queue = `admin-priority-${id}`;
      const transport = backend.open(prefix);
      opened.push({ backend, transport, prefix });
      const { tasks, admin } = transport;
      await tasks.publish({ ...task(queue, 2), priority: 2 });
      await tasks.publish({ ...task(queue, 8), priority: 8 });
      const first = collector();
      const consumer = await tasks.consume({
        queues: [queue],
        prefetch: 2,
        onDelivery: first.onDelivery,
        onError: () => {},
      });
      // The lower priority dead-lettered first: requeued in that order, it would come first
      // again if the priority were lost.
      const delivered = [...(await first.first(2))].sort((a, b) => (a.body[0] ?? 0) - (b.body[0] ?? 0));
      for (const delivery of delivered) await delivery.deadLetter("to requeue");
      await consumer.stop();
      assert.deepEqual(await admin.requeue(queue, "all"), { requeued: 2, missing: [] });
      // One at a time: the higher priority comes first, as when they were first queued.
      const again = collector();
      const next = await tasks.consume({
        queues: [queue],
        prefetch: 1,
        onDelivery: again.onDelivery,
        onError: () => {},
      });
      const [top] = await again.first(1);
      assert.deepEqual([...(top?.body ?? [])], [8]);
      await top?.ack();
      const [, low] = await again.first(2);
      assert.deepEqual([...(low?.body ?? [])], [2]);
      await low?.ack();
      await next.stop();
    });

    it("requeueDeadLetters forgets the failure a worker recorded, so the task runs again", async () => {
      const id = randomUUID().slice(0, 8);
      const prefix = `dingo-test-admin-${id}`;
      const transport = backend.open(prefix);
      opened.push({ backend, transport, prefix });
      const { queue, Tasks, Unserved } = conformanceServices(id);
      // A worker that does not serve Missing dead-letters it, recording NOT_FOUND.
      const first = createWorker(transport);
      await first.serve(
        Tasks,
        onlyAdd(({ a }) => ({ sum: a })),
      );
      const call = createClient(Unserved, transport).missing({ a: 2, b: 3 });
      await assert.rejects(call.result, (error: unknown) => error instanceof TaskError && error.code === "not_found");
      await first.close();
      const [letter] = await transport.admin.deadLetters(queue);
      assert.ok(letter !== undefined);

      // Then a worker that serves it is deployed, and the dead letter requeued.
      const second = createWorker(transport);
      const ran = deferred<string>();
      second.events.subscribe((event) => {
        if (event.type === "task-succeeded") ran.resolve(event.taskId);
      });
      await second.serve(Unserved, { missing: ({ a, b }) => ({ sum: a + b }) });
      assert.deepEqual(await requeueDeadLetters(transport, queue, [letter.id]), { requeued: 1, missing: [] });
      assert.equal(await ran.promise, call.id);
      const outcome = await lookupResult(Unserved.methods.missing, transport, call.id);
      assert.equal(outcome?.status, "success");
      assert.deepEqual(outcome?.status === "success" ? outcome.response : undefined, { sum: 5 });
      await second.close();
    });
  });
}
