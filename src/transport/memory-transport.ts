import { MemoryQueueAdmin } from "./memory-queue-admin.js";
import { MemoryReportRouter } from "./memory-report-router.js";
import { MemoryResultStore } from "./memory-result-store.js";
import { MemoryTaskBroker } from "./memory-task-broker.js";
import type { Transport } from "./transport.js";

/** Options of {@link createMemoryTransport}. */
export interface MemoryTransportOptions {
  /** How long final outcomes are kept when a task does not say, ms. Default: 10 minutes. */
  readonly resultTtlMs?: number;
  /** Dead letters kept per queue; beyond it the oldest are dropped. Default: 10,000. */
  readonly maxDeadLetters?: number;
  /**
   * Most final outcomes (and pending claims) kept; beyond it the ones closest to expiry
   * are dropped early, so a process running many tasks does not grow without bound.
   * Default: 100,000.
   */
  readonly maxResults?: number;
}

/**
 * Creates the embedded, in-process transport: no broker to run, and the same semantics
 * as a remote one (envelopes are encoded and decoded, deliveries are acknowledged,
 * delays and priorities are honoured). Clients and workers in one process share it.
 * Nothing survives the process.
 *
 * @example
 * ```ts
 * const transport = createMemoryTransport();
 * const worker = createWorker(transport);
 * await worker.serve(MathTasks, handlers);
 * const math = createClient(MathTasks, transport);
 * ```
 */
export function createMemoryTransport(options: MemoryTransportOptions = {}): Transport {
  const tasks = new MemoryTaskBroker({ maxDeadLetters: options.maxDeadLetters ?? 10_000 });
  const reports = new MemoryReportRouter();
  const results = new MemoryResultStore({
    defaultTtlMs: options.resultTtlMs ?? 10 * 60_000,
    maxEntries: options.maxResults ?? 100_000,
  });
  let closed = false;
  return {
    tasks,
    reports,
    results,
    admin: new MemoryQueueAdmin(tasks),
    // Nothing here outlives the process, so no crash can separate an ack from its report.
    acksFollowSends: true,
    async close() {
      if (closed) return;
      closed = true;
      tasks.close();
      reports.close();
      results.close();
    },
  };
}
