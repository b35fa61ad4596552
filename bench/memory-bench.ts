/**
 * Round trips on the memory transport: a worker and a client in this process, calls of
 * a trivial handler with 1 and with 256 in flight, with the default reports (the
 * outcome alone), and with 256 in flight asking for every report (`reports: "all"`:
 * one more report, RECEIVED, per call).
 *
 * Baseline, measured in the same run: the envelope and message encoding alone that one
 * round trip needs (request, Task, the final Report, response), with no runtime around
 * it. The ratio says how much the runtime (promises, queues, result store) costs on top.
 */

import { MathTasks } from "../generated/example/v1/math_dingo.js";
import { AddRequest, AddResponse } from "../generated/example/v1/math_pb.js";
import {
  decodeReport,
  decodeTask,
  encodeMessage,
  encodeReport,
  encodeTask,
  type ReportEnvelope,
  ReportLevel,
} from "../src/envelope.js";
import { type CallOptions, createClient, createMemoryTransport, createWorker } from "../src/index.js";
import { type Figure, median, quantile, rate } from "./measure.js";
import { roundTrips } from "./round-trips.js";

/** Rounds per measurement; the median is reported, as the machine is shared and noisy. */
const rounds = 5;

export async function memoryBench(roundMs = 1000): Promise<Figure[]> {
  const codecOnly = median(Array.from({ length: rounds }, () => rate(codecRoundTrip, roundMs / 2)));
  const transport = createMemoryTransport();
  const worker = createWorker(transport, { concurrency: 256 });
  await worker.serve(MathTasks, {
    add: ({ a, b }) => ({ sum: a + b }),
    divide: ({ dividend, divisor }) => ({ quotient: dividend / divisor }),
    countPrimes: () => ({}),
  });
  const math = createClient(MathTasks, transport);

  const roundTrip = (inFlight: number, options: CallOptions = {}) =>
    roundTrips(() => math.add({ a: 1, b: 2 }, options), inFlight, roundMs);

  async function measure(
    inFlight: number,
    options: CallOptions = {},
  ): Promise<{ perSecond: number; latencies: number[] }> {
    const perRound: number[] = [];
    const latencies: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const result = await roundTrip(inFlight, options);
      perRound.push(result.perSecond);
      for (const latency of result.latencies) latencies.push(latency);
    }
    latencies.sort((x, y) => x - y);
    return { perSecond: median(perRound), latencies };
  }

  await roundTrip(64); // warm-up
  const sequential = await measure(1);
  const parallel = await measure(256);
  const allReports = await measure(256, { reports: "all" });
  await worker.close();
  await transport.close();
  return [
    { name: "memory.roundtrips.c1", value: sequential.perSecond, unit: "calls/s" },
    { name: "memory.roundtrips.c256", value: parallel.perSecond, unit: "calls/s" },
    { name: "memory.roundtrips.c256_all_reports", value: allReports.perSecond, unit: "calls/s" },
    { name: "memory.seq.p50", value: quantile(sequential.latencies, 0.5), unit: "ms" },
    { name: "memory.seq.p99", value: quantile(sequential.latencies, 0.99), unit: "ms" },
    { name: "memory.c256.p50", value: quantile(parallel.latencies, 0.5), unit: "ms" },
    { name: "memory.c256.p99", value: quantile(parallel.latencies, 0.99), unit: "ms" },
    { name: "memory.baseline.codec_only", value: codecOnly, unit: "roundtrips/s" },
    { name: "memory.roundtrips.c256_vs_codec_only", value: parallel.perSecond / codecOnly, unit: "x" },
  ];
}

/** The encoding work of one round trip, without the runtime: the baseline. */
function codecRoundTrip(): void {
  const payload = encodeMessage(AddRequest, AddRequest.fromPartial({ a: 1, b: 2 }));
  const id = crypto.randomUUID();
  const name = "example.v1.MathTasks/Add";
  const body = encodeTask({
    id,
    name,
    payload,
    attempt: 1,
    createdAtMs: Date.now(),
    replyTo: "memory-inbox-1",
    reportLevel: ReportLevel.REPORT_LEVEL_FINAL,
    priority: 5,
    queue: name,
    notBeforeMs: 0,
    deadlineMs: 0,
    timeoutMs: 2000,
    retry: { maxAttempts: 3, initialBackoffMs: 100, multiplier: 2, maxBackoffMs: 60_000, jitter: 0 },
    resultTtlMs: 0,
    headers: {},
  });
  const task = decodeTask(body);
  const request = AddRequest.decode(task.payload);
  const response = encodeMessage(AddResponse, AddResponse.fromPartial({ sum: request.a + request.b }));
  AddResponse.decode(decodeReport(encodeReport(report(task.id, task.name, 5, response))).payload);
}

/** A Report as the worker builds it: one literal, fields in order. */
function report(taskId: string, name: string, status: number, payload: Uint8Array): ReportEnvelope {
  const atMs = Date.now();
  return { taskId, name, status, payload, error: undefined, attempt: 1, workerId: "w", atMs, nextAttemptAtMs: 0 };
}
