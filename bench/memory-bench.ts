/**
 * Round trips on the memory transport: a worker and a client in this process, calls of
 * a trivial handler with 1 and with 256 in flight.
 */
import { MathTasks } from "../generated/example/v1/math_dingo.js";
import { createClient, createMemoryTransport, createWorker } from "../src/index.js";
import { type Figure, quantile } from "./measure.js";

export async function memoryBench(durationMs = 2000): Promise<Figure[]> {
  const transport = createMemoryTransport();
  const worker = createWorker(transport, { concurrency: 256 });
  await worker.serve(MathTasks, {
    add: ({ a, b }) => ({ sum: a + b }),
    divide: ({ dividend, divisor }) => ({ quotient: dividend / divisor }),
    countPrimes: () => ({}),
  });
  const math = createClient(MathTasks, transport);

  async function roundTrips(inFlight: number): Promise<{ perSecond: number; latencies: number[] }> {
    const latencies: number[] = [];
    const started = performance.now();
    const end = started + durationMs;
    let done = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (performance.now() < end) {
          const callStarted = performance.now();
          await math.add({ a: 1, b: 2 });
          latencies.push(performance.now() - callStarted);
          done++;
        }
      }),
    );
    latencies.sort((x, y) => x - y);
    return { perSecond: done / ((performance.now() - started) / 1000), latencies };
  }

  await roundTrips(16); // warm-up
  const sequential = await roundTrips(1);
  const parallel = await roundTrips(256);
  await worker.close();
  await transport.close();
  return [
    { name: "memory.roundtrips.c1", value: sequential.perSecond, unit: "calls/s" },
    { name: "memory.roundtrips.c256", value: parallel.perSecond, unit: "calls/s" },
    { name: "memory.seq.p50", value: quantile(sequential.latencies, 0.5), unit: "ms" },
    { name: "memory.seq.p99", value: quantile(sequential.latencies, 0.99), unit: "ms" },
    { name: "memory.c256.p50", value: quantile(parallel.latencies, 0.5), unit: "ms" },
    { name: "memory.c256.p99", value: quantile(parallel.latencies, 0.99), unit: "ms" },
  ];
}
