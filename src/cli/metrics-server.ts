import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { QueueAdmin } from "../transport/queue-admin.js";
import type { Worker } from "../worker.js";
import { CliError } from "./cli-error.js";

/** A running `/metrics` endpoint. */
export interface MetricsServer {
  /** `http://127.0.0.1:<port>/metrics`, with the port actually bound (for `--metrics-port 0`). */
  readonly url: string;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** The queues whose depth the metrics report, and where to read it. */
export interface ServedQueues {
  readonly admin: QueueAdmin;
  readonly queues: readonly string[];
}

/**
 * Serves the worker's Prometheus metrics (and Node's process metrics, and the depth of
 * the queues it serves) on `http://127.0.0.1:<port>/metrics`, in a registry of its own.
 * prom-client is loaded here, only when `--metrics-port` asks for it.
 */
export async function serveMetrics(worker: Worker, port: number, served: ServedQueues): Promise<MetricsServer> {
  const { Registry, collectDefaultMetrics } = await import("prom-client");
  const { createWorkerMetrics } = await import("../worker-metrics.js");
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = createWorkerMetrics({ registry });
  const stopWorker = metrics.observe(worker);
  const stopQueues = metrics.observeQueues(served.admin, served.queues);
  const stopObserving = (): void => {
    stopWorker();
    stopQueues();
  };
  const server = createServer((request, response) => {
    const path = (request.url ?? "").split("?")[0];
    if (path !== "/metrics" || (request.method !== "GET" && request.method !== "HEAD")) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found: try GET /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { "content-type": "text/plain" }).end(`${String(error)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => {
      stopObserving();
      reject(new CliError(`--metrics-port: cannot listen on 127.0.0.1:${port}: ${error.message}`));
    });
    server.listen(port, "127.0.0.1", resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}/metrics`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        stopObserving();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
}
