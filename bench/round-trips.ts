/** Round trips, the part of the Redis, RabbitMQ and in-memory benchmarks that is the same. */
import { readFileSync } from "node:fs";
import { measureRoundTrips } from "../src/round-trip-bench.js";
import { type Figure, median, quantile } from "./measure.js";

/** What one stretch of round trips gave: the rate and every call's latency, ms. */
export interface RoundTrips {
  readonly perSecond: number;
  readonly latencies: number[];
}

/**
 * Calls `call` with `inFlight` calls at a time for about `ms`; rate and every latency.
 * The loop is `dingo bench`'s (src/round-trip-bench.ts); a benchmark with failed calls
 * measured something else, so any failure rejects.
 */
export async function roundTrips(call: () => PromiseLike<unknown>, inFlight: number, ms: number): Promise<RoundTrips> {
  const trips = await measureRoundTrips(call, { inFlight, durationMs: ms });
  if (trips.errors > 0) {
    throw new Error(`${trips.errors} of ${trips.errors + trips.calls} round trips failed`, { cause: trips.firstError });
  }
  return { perSecond: trips.perSecond, latencies: trips.latencies };
}

/** One system whose round trips are measured. */
export interface RoundTripContender {
  /** Figure prefix. */
  readonly label: string;
  /** The numbers of calls in flight it is measured at (default: 1 and the concurrency). */
  readonly inFlight?: readonly number[];
  /** One round trip. */
  call(): Promise<unknown>;
  /**
   * `performance.now()` from which it runs as it does for good: its warm-up lasts until
   * then (a dingo worker looks every task up for its first `clockSkewMs`). Default: the
   * warm-up is 300 ms.
   */
  readonly steadyAt?: number;
}

/** Settings every broker suite shares (`npm run bench -- redis`, `-- amqp`). */
export interface BrokerBenchOptions {
  /** The broker under measurement. */
  readonly url: string;
  /** Length of one round, ms. */
  readonly roundMs: number;
  /** Rounds per figure; the median is reported. */
  readonly rounds: number;
  /** Tasks of the bulk runs. */
  readonly bulkTasks: number;
  /** Worker concurrency (and the larger number of calls in flight). */
  readonly concurrency: number;
  /** Length of the round whose commands or frames are counted, ms (0: none). */
  readonly countMs: number;
}

/** Settings of {@link interleavedRoundTrips}. */
export interface RoundTripOptions {
  /** Length of one round, ms. */
  readonly roundMs: number;
  /** Rounds per figure; the median is reported. */
  readonly rounds: number;
  /** The larger number of calls in flight; CPU time is measured at it. */
  readonly concurrency: number;
  /** What the CPU time of the server (broker) is called in the figures: `server`, `broker`. */
  readonly server: string;
  /** CPU seconds the server used so far (NaN: unknown). */
  serverCpuSeconds(): number | Promise<number>;
}

/**
 * Warms every contender up, then measures `rounds` rounds of `roundMs` with 1 and with
 * `concurrency` calls in flight, the contenders interleaved (rotated each round, so that
 * none always runs first on a shared machine), and the CPU time this process and the
 * server used per call over the rounds at `concurrency`. Returns the figures: median
 * rates, latency quantiles over all calls, CPU per call, and `rate` for ratios.
 */
export async function interleavedRoundTrips(
  contenders: readonly RoundTripContender[],
  options: RoundTripOptions,
): Promise<{ figures: Figure[]; rate(label: string, inFlight: number): number }> {
  const c = options.concurrency;
  const inFlightOf = (contender: RoundTripContender) => contender.inFlight ?? [1, c];
  for (const contender of contenders) {
    await roundTrips(contender.call, c, Math.max(300, (contender.steadyAt ?? 0) - performance.now()));
    await roundTrips(contender.call, 1, 100);
  }
  const results = new Map<string, { perSecond: number[]; latencies: number[] }>();
  /**
   * CPU time of this process (and its kernel share) and of the server over the rounds at
   * `concurrency`, µs, and the write system calls of this process (NaN: not on Linux).
   */
  const cpu = new Map<string, { node: number; nodeSystem: number; server: number; writes: number; calls: number }>();
  for (let round = 0; round < options.rounds; round++) {
    for (const inFlight of [1, c]) {
      const measured = contenders.filter((contender) => inFlightOf(contender).includes(inFlight));
      for (let i = 0; i < measured.length; i++) {
        const contender = measured[(round + i) % measured.length] as RoundTripContender;
        const key = `${contender.label}/${inFlight}`;
        let result = results.get(key);
        if (result === undefined) {
          result = { perSecond: [], latencies: [] };
          results.set(key, result);
        }
        const serverBefore = inFlight === c ? await options.serverCpuSeconds() : 0;
        const nodeBefore = process.cpuUsage();
        const writesBefore = writeSyscalls();
        const trips = await roundTrips(contender.call, inFlight, options.roundMs);
        if (inFlight === c) {
          const node = process.cpuUsage(nodeBefore);
          const writes = writeSyscalls() - writesBefore;
          const server = (await options.serverCpuSeconds()) - serverBefore;
          const used = cpu.get(contender.label) ?? { node: 0, nodeSystem: 0, server: 0, writes: 0, calls: 0 };
          used.node += node.user + node.system;
          used.nodeSystem += node.system;
          used.writes += writes;
          used.server += server * 1e6;
          used.calls += trips.latencies.length;
          cpu.set(contender.label, used);
        }
        result.perSecond.push(trips.perSecond);
        for (const latency of trips.latencies) result.latencies.push(latency);
      }
    }
  }
  const rate = (label: string, inFlight: number) => median(results.get(`${label}/${inFlight}`)?.perSecond ?? []);
  const latency = (label: string, inFlight: number, q: number) => {
    const latencies = results.get(`${label}/${inFlight}`)?.latencies ?? [];
    latencies.sort((x, y) => x - y);
    return quantile(latencies, q);
  };
  const figures: Figure[] = [];
  for (const contender of contenders) {
    for (const inFlight of inFlightOf(contender)) {
      figures.push({
        name: `${contender.label}.roundtrips.c${inFlight}`,
        value: rate(contender.label, inFlight),
        unit: "calls/s",
      });
    }
  }
  for (const contender of contenders) {
    const { label } = contender;
    if (inFlightOf(contender).includes(1)) {
      figures.push({ name: `${label}.seq.p50`, value: latency(label, 1, 0.5), unit: "ms" });
      figures.push({ name: `${label}.seq.p99`, value: latency(label, 1, 0.99), unit: "ms" });
    }
    figures.push({ name: `${label}.c${c}.p50`, value: latency(label, c, 0.5), unit: "ms" });
    figures.push({ name: `${label}.c${c}.p99`, value: latency(label, c, 0.99), unit: "ms" });
  }
  const server = options.server;
  for (const { label } of contenders) {
    const used = cpu.get(label) ?? {
      node: Number.NaN,
      nodeSystem: Number.NaN,
      server: Number.NaN,
      writes: Number.NaN,
      calls: 1,
    };
    figures.push({ name: `${label}.c${c}.node_cpu_per_call`, value: used.node / used.calls, unit: "µs" });
    figures.push({ name: `${label}.c${c}.node_kernel_cpu_per_call`, value: used.nodeSystem / used.calls, unit: "µs" });
    figures.push({ name: `${label}.c${c}.node_writes_per_call`, value: used.writes / used.calls, unit: "syscalls" });
    figures.push({ name: `${label}.c${c}.${server}_cpu_per_call`, value: used.server / used.calls, unit: "µs" });
  }
  return { figures, rate };
}

/**
 * Write system calls this process made so far (`syscw` of /proc/self/io; NaN where there is
 * none). Socket writes are what separates the contenders most: the kernel's share of a
 * loopback write, which wakes the server, differs several-fold between machines, so a
 * contender making one write per call and one making one per batch compare differently
 * from host to host (docs/BENCHMARKS.md).
 */
function writeSyscalls(): number {
  try {
    const match = /^syscw: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"));
    return match === null ? Number.NaN : Number(match[1]);
  } catch {
    return Number.NaN;
  }
}
