/**
 * `dingo worker --metrics-port`: Prometheus metrics on loopback, closed on shutdown.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { DingoProcess, dingo, killAll, mathWorker } from "./dingo-process.js";

after(killAll);

describe("dingo worker --metrics-port", { timeout: 45_000 }, () => {
  it("serves /metrics on 127.0.0.1 while running, and stops serving on shutdown", async () => {
    const worker = new DingoProcess(["worker", mathWorker, "--log-format", "json", "--metrics-port", "0"], {
      DINGO_TRANSPORT: "memory:",
    });
    const ready = JSON.parse(await worker.waitFor(/"event":"ready"/)) as Record<string, unknown>;
    const url = String(ready.metrics);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
    const text = await response.text();
    for (const line of [
      "# TYPE dingo_tasks_received_total counter",
      "# TYPE dingo_tasks_succeeded_total counter",
      "# TYPE dingo_tasks_failed_total counter",
      "# TYPE dingo_tasks_retried_total counter",
      "# TYPE dingo_tasks_dead_lettered_total counter",
      "# TYPE dingo_task_duration_seconds histogram",
      "dingo_tasks_in_flight 0",
      'dingo_queue_waiting_tasks{queue="example.v1.MathTasks/Add"} 0',
      "# TYPE process_cpu_seconds_total counter",
    ]) {
      assert.ok(text.includes(line), `${line} in\n${text}`);
    }
    assert.equal((await fetch(url.replace("/metrics", "/other"))).status, 404);
    worker.kill("SIGTERM");
    const exit = await worker.exited;
    assert.equal(exit.code, 0, `${exit.signal} ${exit.stdout} ${exit.stderr}`);
    await assert.rejects(fetch(url), "nothing listens after shutdown");
  });

  it("a port in use is a one-line error and exit 1", async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = (busy.address() as AddressInfo).port;
    try {
      const exit = await dingo(["worker", mathWorker, "--metrics-port", String(port)], { DINGO_TRANSPORT: "memory:" });
      assert.equal(exit.code, 1);
      assert.equal(
        exit.stderr,
        `dingo: --metrics-port: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`,
      );
    } finally {
      busy.close();
    }
  });

  it("is in dingo help worker", async () => {
    const help = await dingo(["help", "worker"]);
    assert.match(help.stdout, /--metrics-port <port>/);
    assert.match(help.stdout, /127\.0\.0\.1:<port>\/metrics/);
  });

  it("rejects a port out of range", async () => {
    const exit = await dingo(["worker", mathWorker, "--metrics-port", "70000"], { DINGO_TRANSPORT: "memory:" });
    assert.equal(exit.code, 1);
    assert.match(exit.stderr, /--metrics-port <port>.*Expected an integer 0\.\.65535/);
  });
});
