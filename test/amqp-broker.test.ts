import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { type ChannelModel, connect } from "amqplib";
import { createClient, createWorker, type Delivery, TaskError, type Transport } from "../src/index.js";
import type { ConsumerChannel } from "../src/transport/amqp-consumer.js";
import { amqpNames } from "../src/transport/amqp-names.js";
import { AmqpTaskBroker } from "../src/transport/amqp-task-broker.js";
import { type AmqpTransportOptions, createAmqpTransport } from "../src/transport/amqp-transport.js";
import { amqpUrl, deleteTopology, openInspector, requireRabbitMq } from "./amqp-availability.js";
import { conformanceServices, deferred, onlyAdd } from "./conformance/fixtures.js";
import { watchBroadcasts } from "./fixtures/broadcast-watch.js";

const available = await requireRabbitMq();

/** Names unique to one test, so that tests and files can share one broker. */
function names() {
  const id = randomUUID().slice(0, 8);
  const prefix = `dingo-test-${id}`;
  return { id, prefix, queue: `amqp-${id}`, amqp: amqpNames(prefix) };
}

function task(queue: string, body: number[], options: { notBeforeMs?: number; priority?: number } = {}) {
  return {
    id: randomUUID(),
    queue,
    body: new Uint8Array(body),
    priority: options.priority ?? 0,
    notBeforeMs: options.notBeforeMs ?? 0,
  };
}

/** Deliveries in arrival order, each awaitable by index. */
function inbox() {
  const arrived: Delivery[] = [];
  const waiting: { index: number; resolve: (delivery: Delivery) => void }[] = [];
  return {
    arrived,
    onDelivery(delivery: Delivery) {
      arrived.push(delivery);
      for (const waiter of waiting.filter((w) => w.index < arrived.length)) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve(arrived[waiter.index] as Delivery);
      }
    },
    nth(index: number): Promise<Delivery> {
      const delivery = arrived[index];
      if (delivery !== undefined) return Promise.resolve(delivery);
      return new Promise((resolve) => waiting.push({ index, resolve }));
    },
  };
}

/** Closes the channel a delivery came on by a broker error: an ack of an unknown delivery tag. */
function breakChannelOf(delivery: Delivery): void {
  const { state } = delivery as unknown as { state: ConsumerChannel };
  state.channel.ack({ fields: { deliveryTag: 1_000_000 } } as never);
}

describe("amqp transport", { skip: available ? false : `RabbitMQ is not reachable at ${amqpUrl}` }, () => {
  let inspector: ChannelModel;
  const transports: Transport[] = [];
  const extraQueues: string[] = [];
  const open = (options: AmqpTransportOptions): Transport => {
    const transport = createAmqpTransport({ url: amqpUrl, ...options });
    transports.push(transport);
    return transport;
  };

  before(async () => {
    inspector = await openInspector();
  });
  after(async () => {
    await Promise.all(transports.map((transport) => transport.close()));
    for (const transport of transports) await deleteTopology(inspector, transport, extraQueues);
    await inspector.close();
  });

  it("delivers a 10 ms delay on time while a longer one waits in the same queue", async () => {
    const { prefix, queue } = names();
    const transport = open({ prefix });
    const deliveries = inbox();
    await transport.tasks.consume({
      queues: [queue],
      prefetch: 4,
      onDelivery: deliveries.onDelivery,
      onError: () => {},
    });
    const start = Date.now();
    const long = start + 2500;
    const short = start + 10;
    // The long one first: a single wait queue would hold the short one behind it.
    await transport.tasks.publish(task(queue, [2], { notBeforeMs: long }));
    await transport.tasks.publish(task(queue, [1], { notBeforeMs: short }));
    const first = await deliveries.nth(0);
    const firstAt = Date.now();
    assert.deepEqual([...first.body], [1]);
    assert.ok(firstAt >= short, "not before its time");
    assert.ok(firstAt < short + 250, `the short delay came ${firstAt - short} ms late`);
    await first.ack();
    const second = await deliveries.nth(1);
    const secondAt = Date.now();
    assert.deepEqual([...second.body], [2]);
    assert.ok(secondAt >= long, "not before its time");
    assert.ok(secondAt < long + 250, `the long delay came ${secondAt - long} ms late`);
    assert.equal(second.deliveryCount, 1, "hops through delay buckets are not deliveries");
    await second.ack();
  });

  it("delivers waiting tasks highest priority first, in publish order within a priority", async () => {
    const { prefix, queue } = names();
    const transport = open({ prefix });
    const priorities = [0, 5, 9, 5, 0, 9, 1, 5, 12, -3];
    for (const [index, priority] of priorities.entries()) {
      await transport.tasks.publish(task(queue, [index], { priority }));
    }
    const deliveries = inbox();
    const all = deferred();
    await transport.tasks.consume({
      queues: [queue],
      prefetch: 1,
      onDelivery: (delivery) => {
        deliveries.onDelivery(delivery);
        void delivery.ack();
        if (deliveries.arrived.length === priorities.length) all.resolve();
      },
      onError: () => {},
    });
    await all.promise;
    // 12 is clamped to 9, −3 to 0.
    assert.deepEqual(
      deliveries.arrived.map((delivery) => delivery.body[0]),
      [2, 5, 8, 1, 3, 7, 6, 0, 4, 9],
    );
  });

  it("dead-letters the delivered bytes with the reason, time, queue and delivery count in headers", async () => {
    const { prefix, queue, amqp } = names();
    const transport = open({ prefix });
    const body = [0xff, 0x00, 0x7f, 0x80];
    await transport.tasks.publish(task(queue, body));
    const deliveries = inbox();
    await transport.tasks.consume({
      queues: [queue],
      prefetch: 1,
      onDelivery: deliveries.onDelivery,
      onError: () => {},
    });
    const before = Date.now();
    await (await deliveries.nth(0)).deadLetter("not_found: nobody serves it");

    const letters = await transport.admin.deadLetters(queue);
    assert.equal(letters.length, 1);
    assert.deepEqual([...(letters[0]?.body ?? [])], body);
    assert.equal(letters[0]?.reason, "not_found: nobody serves it");
    assert.ok((letters[0]?.atMs ?? 0) >= before);
    assert.equal(Object.getPrototypeOf(letters[0]?.body), Uint8Array.prototype, "a plain Uint8Array");

    // The raw message, as a worker in another language would read it.
    const channel = await inspector.createChannel();
    const raw = await channel.get(amqp.deadQueue(queue), { noAck: true });
    await channel.close();
    assert.ok(raw !== false);
    assert.deepEqual([...raw.content], body);
    assert.equal(raw.properties.deliveryMode, 2, "persistent");
    const headers = raw.properties.headers ?? {};
    assert.equal(String(headers["dingo-reason"]), "not_found: nobody serves it");
    assert.equal(String(headers["dingo-queue"]), queue);
    assert.equal(Number(headers["dingo-deliveries"]), 1);
    assert.ok(Number(headers["dingo-dead-at"]) >= before);
    assert.deepEqual(await transport.admin.deadLetters(queue), [], "read destructively above: gone");
  });

  it("resumes by itself when the broker closes the consumer's channel, delivering the unsettled task again with its count", async () => {
    const { prefix, queue } = names();
    const transport = open({ prefix });
    const errors: unknown[] = [];
    const deliveries = inbox();
    await transport.tasks.consume({
      queues: [queue],
      prefetch: 2,
      onDelivery: deliveries.onDelivery,
      onError: (error) => errors.push(error),
    });
    await transport.tasks.publish(task(queue, [1]));
    const first = await deliveries.nth(0);
    assert.equal(first.deliveryCount, 1);
    breakChannelOf(first);
    const again = await deliveries.nth(1);
    assert.deepEqual([...again.body], [1]);
    assert.equal(again.deliveryCount, 2, "the lost delivery is counted");
    // The stale delivery settles as a no-op: the broker has the task back already.
    await first.ack();
    await again.ack();
    assert.ok(errors.length > 0, "the consumer reported what happened");
    // It goes on consuming.
    await transport.tasks.publish(task(queue, [2]));
    assert.deepEqual([...(await deliveries.nth(2)).body], [2]);
    await (await deliveries.nth(2)).ack();
  });

  it("consumes again when its queue is deleted under it", async () => {
    const { prefix, queue, amqp } = names();
    const transport = open({ prefix });
    const cancelled = deferred();
    const deliveries = inbox();
    await transport.tasks.consume({
      queues: [queue],
      prefetch: 1,
      onDelivery: deliveries.onDelivery,
      onError: (error) => {
        if (String(error).includes("cancelled")) cancelled.resolve();
      },
    });
    const channel = await inspector.createChannel();
    await channel.deleteQueue(amqp.taskQueue(queue));
    await channel.close();
    await cancelled.promise;
    // A publisher that declared the queue before would route nowhere: publish through a
    // new transport, as another process would, once the consumer has declared it again.
    const other = open({ prefix });
    await other.tasks.publish(task(queue, [3]));
    const delivery = await deliveries.nth(0);
    assert.deepEqual([...delivery.body], [3]);
    await delivery.ack();
  });

  it("reconnects after losing its connection; consumers resume and publishing works again", async () => {
    const { prefix, queue } = names();
    const transport = open({ prefix });
    assert.ok(transport.tasks instanceof AmqpTaskBroker);
    const deliveries = inbox();
    const lost = deferred();
    await transport.tasks.consume({
      queues: [queue],
      prefetch: 1,
      onDelivery: deliveries.onDelivery,
      onError: () => lost.resolve(),
    });
    await transport.tasks.publish(task(queue, [1]));
    const first = await deliveries.nth(0);
    const model = await transport.tasks.settings.connection.get();
    // The socket dies as it would when the network or the broker goes away.
    (model.connection as unknown as { stream: { destroy(error: Error): void } }).stream.destroy(
      new Error("simulated network failure"),
    );
    await lost.promise;
    const again = await deliveries.nth(1);
    assert.deepEqual([...again.body], [1]);
    assert.equal(again.deliveryCount, 2);
    await again.ack();
    await first.ack();
    await transport.tasks.publish(task(queue, [2]));
    assert.deepEqual([...(await deliveries.nth(2)).body], [2]);
    await (await deliveries.nth(2)).ack();
  });

  it("tells subscribers when the broadcast channel breaks and when it listens again", async () => {
    const { prefix } = names();
    const transport = open({ prefix });
    assert.ok(transport.tasks instanceof AmqpTaskBroker);
    const watch = await watchBroadcasts(transport.reports);
    const model = await transport.tasks.settings.connection.get();
    (model.connection as unknown as { stream: { destroy(error: Error): void } }).stream.destroy(
      new Error("simulated network failure"),
    );
    await watch.relinked;
    assert.deepEqual(watch.links, [false, true]);
    // Subscribed again on the new connection: a broadcast is heard.
    assert.deepEqual(await watch.broadcastAndHear(), [7]);
  });

  it("dead-letters a task redelivered past the worker's limit, failing the call with ABORTED", async () => {
    const { id, prefix } = names();
    const transport = open({ prefix });
    const services = conformanceServices(id);
    let startedCount = 0;
    const started = [deferred(), deferred()];
    const tapped: Delivery[] = [];
    // The worker's deliveries, seen on the way in, so that the test can break their channel.
    const tapping: Transport = {
      ...transport,
      tasks: {
        publish: (outgoing) => transport.tasks.publish(outgoing),
        consume: (options) =>
          transport.tasks.consume({
            ...options,
            onDelivery: (delivery) => {
              tapped.push(delivery);
              options.onDelivery(delivery);
            },
          }),
      },
    };
    const neverEnds = deferred();
    const worker = createWorker(tapping, { maxDeliveries: 2, concurrency: 4 });
    await worker.serve(
      services.Tasks,
      onlyAdd(async () => {
        started[startedCount++]?.resolve();
        await neverEnds.promise;
        return {};
      }),
    );
    const call = createClient(services.Tasks, transport).add({});
    await started[0]?.promise;
    breakChannelOf(tapped[0] as Delivery);
    await started[1]?.promise;
    breakChannelOf(tapped[1] as Delivery);
    const error = await call.then(
      () => assert.fail("expected the call to fail"),
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof TaskError);
    assert.equal(error.code, "aborted");
    const letters = await transport.admin.deadLetters(services.queue);
    assert.equal(letters.length, 1);
    assert.match(letters[0]?.reason ?? "", /^aborted: delivered 3 times/);
    // No assertion on how often the handler ran: a channel closed between a redelivered
    // copy's confirm and the original's ack leaves a duplicate, as at-least-once allows.
    neverEnds.resolve();
    await worker.close({ timeoutMs: 1000 });
  });
  it("works on a connection passed in and never closes it", async () => {
    const { id, prefix } = names();
    const connection = await connect(amqpUrl);
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
      // Still the user's to use: a channel opens and works.
      const channel = await connection.createChannel();
      await channel.checkExchange("amq.direct");
      await channel.close();
    } finally {
      await connection.close();
    }
  });
});
