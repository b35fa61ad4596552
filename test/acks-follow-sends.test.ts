import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { MathTasks } from "../generated/example/v1/math_dingo.js";
import { createClient, createMemoryTransport, createWorker, TaskError } from "../src/index.js";
import type { Delivery, ReportRouter, TaskBroker, Transport } from "../src/transport/transport.js";

/**
 * A memory transport that records when the worker sends a report and acks a delivery,
 * and holds every send until `openGate()`: so that what the worker does while a send is
 * unconfirmed shows.
 */
function gatedTransport(acksFollowSends: boolean) {
  const inner = createMemoryTransport();
  const steps: string[] = [];
  let openGate = (): void => {};
  const gate = new Promise<void>((resolve) => {
    openGate = resolve;
  });
  let sendStarted = (): void => {};
  const firstSend = new Promise<void>((resolve) => {
    sendStarted = resolve;
  });
  const reports: ReportRouter = {
    openInbox: (options) => inner.reports.openInbox(options),
    async send(address, report) {
      steps.push("send");
      sendStarted();
      await gate;
      await inner.reports.send(address, report);
      steps.push("sent");
    },
    broadcast: (report) => inner.reports.broadcast(report),
    subscribe: (options) => inner.reports.subscribe(options),
  };
  const recordingAck = (delivery: Delivery): Delivery => ({
    queue: delivery.queue,
    body: delivery.body,
    deliveryCount: delivery.deliveryCount,
    ack() {
      steps.push("ack");
      return delivery.ack();
    },
    retry: (next) => delivery.retry(next),
    deadLetter: (reason) => delivery.deadLetter(reason),
    release: () => delivery.release(),
  });
  const tasks: TaskBroker = {
    publish: (task) => inner.tasks.publish(task),
    consume: (options) =>
      inner.tasks.consume({ ...options, onDelivery: (delivery) => options.onDelivery(recordingAck(delivery)) }),
  };
  const transport: Transport = { ...inner, tasks, reports, acksFollowSends };
  return { transport, steps, openGate, firstSend };
}

const handlers = {
  add: ({ a, b }: { a: number; b: number }) => ({ sum: a + b }),
  divide: ({ dividend, divisor }: { dividend: number; divisor: number }) => {
    if (divisor === 0) throw new TaskError("divisor must not be zero", "invalid_argument", { retryable: false });
    return { quotient: dividend / divisor };
  },
  countPrimes: () => ({}),
};

/**
 * Serves MathTasks on a gated transport and makes one call whose outcome is `outcome`;
 * resolves once the worker has begun sending its final report (the send held).
 */
async function callUntilSend(t: TestContext, acksFollowSends: boolean, outcome: "success" | "failure") {
  const { transport, steps, openGate, firstSend } = gatedTransport(acksFollowSends);
  const worker = createWorker(transport, { concurrency: 1 });
  // Open even if an assertion failed first, so that the held send cannot keep the worker from closing.
  t.after(() => {
    openGate();
    return worker.close().then(() => transport.close());
  });
  await worker.serve(MathTasks, handlers);
  const math = createClient(MathTasks, transport);
  const result =
    outcome === "success" ? math.add({ a: 1, b: 2 }).result : math.divide({ dividend: 1, divisor: 0 }).result;
  await firstSend;
  const settled = (): Promise<string> =>
    result.then(
      () => "success",
      () => "failure",
    );
  return { worker, steps, openGate, settled };
}

describe("a worker's ack and the final report before it", () => {
  for (const outcome of ["success", "failure"] as const) {
    it(`acks with the send of a ${outcome} where the transport keeps acks after sends`, async (t) => {
      const { steps, openGate, settled } = await callUntilSend(t, true, outcome);
      assert.deepEqual(steps, ["send", "ack"], "the ack is issued while the send is unconfirmed");
      openGate();
      assert.equal(await settled(), outcome, "the report still reaches the caller");
      assert.deepEqual(steps, ["send", "ack", "sent"]);
    });

    it(`acks a ${outcome} only once its send is confirmed elsewhere`, async (t) => {
      const { worker, steps, openGate, settled } = await callUntilSend(t, false, outcome);
      assert.deepEqual(steps, ["send"], "no ack while the send is unconfirmed");
      openGate();
      assert.equal(await settled(), outcome);
      await worker.close();
      assert.deepEqual(steps, ["send", "sent", "ack"]);
    });
  }
});
