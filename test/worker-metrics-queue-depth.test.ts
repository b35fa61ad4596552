/** The queue-depth gauge of `createWorkerMetrics`: read from a transport's `admin` at each scrape. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { createMemoryTransport } from "../src/index.js";
import { createWorkerMetrics } from "../src/worker-metrics.js";

/** The `dingo_queue_waiting_tasks` samples of a scrape, by queue. */
async function depths(registry: Registry): Promise<Record<string, number>> {
  const text = await registry.metrics();
  const found: Record<string, number> = {};
  for (const match of text.matchAll(/^dingo_queue_waiting_tasks\{queue="([^"]*)"\} (\S+)$/gm)) {
    found[match[1] as string] = Number(match[2]);
  }
  return found;
}

describe("createWorkerMetrics queue depth", () => {
  it("reports the waiting tasks of the observed queues at each scrape, and nothing once it cannot read them", async () => {
    const transport = createMemoryTransport();
    const registry = new Registry();
    const metrics = createWorkerMetrics({ registry });
    const stop = metrics.observeQueues(transport.admin, ["mail", "idle"]);
    assert.deepEqual(await depths(registry), { mail: 0, idle: 0 });
    for (let n = 0; n < 3; n++) {
      await transport.tasks.publish({
        id: `t${n}`,
        queue: "mail",
        body: new Uint8Array([n]),
        priority: 0,
        notBeforeMs: 0,
      });
    }
    await transport.tasks.publish({
      id: "later",
      queue: "mail",
      body: new Uint8Array([9]),
      priority: 0,
      notBeforeMs: Date.now() + 60_000,
    });
    assert.deepEqual(await depths(registry), { mail: 3, idle: 0 }, "delayed tasks are not waiting");
    await transport.close();
    assert.deepEqual(await depths(registry), {}, "a closed transport: no samples, and the scrape still works");
    stop();
    assert.match(await registry.metrics(), /# TYPE dingo_queue_waiting_tasks gauge/);
  });
});
