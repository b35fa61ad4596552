/**
 * Round trips over Redis, several ways in one run against the same server (`REDIS_URL`,
 * default redis://127.0.0.1:6379):
 *
 * - `redis`: dingo's Redis transport. A worker (concurrency 64) and a client in this
 *   process, each on a transport of its own (`createRedisTransport({ url, prefix })`, so
 *   separate connections, as when they run in different processes), calling
 *   `MathTasks.Add` (a trivial handler) with the default reports (the outcome).
 * - `redis.raw`: the baseline, request/reply on plain ioredis lists: one LPUSH per call,
 *   batched pops, pipelined replies (raw-redis-baseline.ts). `redis.raw_coalesced`: the
 *   same with the LPUSHes of one tick coalesced into one, the ceiling of per-tick batching.
 * - `bullmq`: BullMQ `queue.add` + `job.waitUntilFinished(queueEvents)`, worker
 *   concurrency 64 (bullmq-bench.ts).
 *
 * Each has its own key prefix (`bench-<run id>-…`); every key under the run's prefix is
 * deleted at the end. Round trips: rounds of `roundMs` with 1 and with 64 calls in
 * flight, the contenders interleaved (rotated each round, so that none always runs first
 * on a shared machine); the median rate is reported, latency quantiles are over all calls,
 * and the CPU time this process (caller and worker together) and the server (`INFO cpu`)
 * used per call over the rounds at 64 in flight.
 * Bulk: `bulkTasks` tasks enqueued with no worker running, then a worker started and
 * timed until every outcome arrived (dingo, raw: at the caller; BullMQ: the worker's
 * `completed` events, its outcome recorded in Redis).
 *
 * Then one more round of 64 in flight per contender with every ioredis command counted
 * (per connection, command and script), and the server's `INFO commandstats` before and
 * after (which also counts the commands scripts run): commands per task. dingo runs that
 * round on transports given connections named by role, so that worker and client
 * commands are told apart.
 *
 * `BENCH_REDIS_ROUNDS` (default 5) and `BENCH_REDIS_ROUND_MS` (default 1000) shorten or
 * lengthen the round trips; the whole suite takes about a minute with the defaults.
 */

import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { MathTasks } from "../generated/example/v1/math_dingo.js";
import { type Client, createClient, createWorker, defaultClockSkewMs } from "../src/index.js";
import { createRedisTransport } from "../src/transport/redis-transport.js";
import { BullSetup } from "./bullmq-bench.js";
import { type Bulk, dingoBulk, mathHandlers, withTimeout } from "./dingo-bulk.js";
import type { Figure } from "./measure.js";
import { RawCaller, RawWorker, rawKeys } from "./raw-redis-baseline.js";
import { type BrokerBenchOptions, interleavedRoundTrips, type RoundTripContender, roundTrips } from "./round-trips.js";

/** Settings of {@link redisBench}. */
export type RedisBenchOptions = BrokerBenchOptions;

export const defaultRedisBenchOptions: RedisBenchOptions = {
  url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  roundMs: Number(process.env.BENCH_REDIS_ROUND_MS ?? 1000),
  rounds: Number(process.env.BENCH_REDIS_ROUNDS ?? 5),
  bulkTasks: 20_000,
  concurrency: 64,
  countMs: 1000,
};

/** One system under measurement: makes round trips, closes. */
export interface Contender extends RoundTripContender {
  /** Figure prefix: `redis`, `redis.raw`, `redis.raw_coalesced`, `bullmq`. */
  readonly label: string;
  /** How the names of its ioredis connections start (none: its connections have no name). */
  readonly connections?: string;
  close(): Promise<void>;
}

/** Runs the whole comparison; returns the figures and notes for `report()`. */
export async function redisBench(
  options: RedisBenchOptions = defaultRedisBenchOptions,
): Promise<{ figures: Figure[]; notes: string[] }> {
  const { url, concurrency } = options;
  const probe = await connectProbe(url);
  const run = `bench-${randomBytes(4).toString("hex")}`;
  const notes: string[] = [];
  const figures: Figure[] = [];
  const contenders: Contender[] = [];
  /** Contenders not in the interleaved rounds (the counted dingo). */
  const others: Contender[] = [];
  try {
    await measureRoundTrips();
    await measureBulk();
  } finally {
    for (const contender of [...contenders.splice(0), ...others.splice(0)]) await contender.close().catch(ignore);
    await deleteKeys(probe, `${run}-*`);
    await probe.quit().catch(ignore);
  }
  notes.unshift(
    `worker concurrency ${concurrency}; dingo's worker and client on separate transports (connections) in this process;`,
    `${options.rounds} rounds of ${options.roundMs} ms per figure (median), interleaved; bulk: ${options.bulkTasks} tasks enqueued, then processed`,
  );
  return { figures, notes };

  async function measureRoundTrips(): Promise<void> {
    // Opened first, so that by its counted round its worker is past the start-up window in
    // which it looks every task up (`clockSkewMs`, WIRE.md worker step 6): steady state.
    const counted = options.countMs > 0 ? await openCountedDingo(url, `${run}-count`, concurrency) : undefined;
    if (counted !== undefined) others.push(counted);
    contenders.push(await openDingo(url, `${run}-dingo`, concurrency));
    contenders.push(await openRaw(url, `${run}-raw`, concurrency, false));
    contenders.push(await openRaw(url, `${run}-rawc`, concurrency, true));
    contenders.push(await openBull(url, `${run}-bull`, concurrency));

    const c = concurrency;
    const measured = await interleavedRoundTrips(contenders, {
      roundMs: options.roundMs,
      rounds: options.rounds,
      concurrency,
      server: "server",
      serverCpuSeconds: () => serverCpuSeconds(probe),
    });
    figures.push(...measured.figures);
    const { rate } = measured;
    figures.push({ name: `redis.c${c}_vs_raw`, value: rate("redis", c) / rate("redis.raw", c), unit: "x" });
    figures.push({
      name: `redis.c${c}_vs_raw_coalesced`,
      value: rate("redis", c) / rate("redis.raw_coalesced", c),
      unit: "x",
    });
    figures.push({ name: `redis.c${c}_vs_bullmq`, value: rate("redis", c) / rate("bullmq", c), unit: "x" });
    figures.push({ name: "redis.c1_vs_raw", value: rate("redis", 1) / rate("redis.raw", 1), unit: "x" });

    if (counted !== undefined) {
      const counts = await countCommands(counted, contenders, options, probe);
      figures.push(...counts.figures);
      notes.push(...counts.notes);
    }
    for (const contender of contenders.splice(0)) await contender.close();
  }

  async function measureBulk(): Promise<void> {
    const bulks = [
      ["redis", await dingoBulkOnRedis(url, `${run}-dingo-bulk`, options)],
      ["redis.raw", await rawBulk(url, `${run}-raw-bulk`, options, false)],
      ["bullmq", await bullBulk(url, `${run}-bull-bulk`, options)],
      ["redis.raw_coalesced", await rawBulk(url, `${run}-rawc-bulk`, options, true)],
    ] as const;
    for (const [label, bulk] of bulks) figures.push({ name: `${label}.bulk`, value: bulk.process, unit: "tasks/s" });
    for (const [label, bulk] of bulks) {
      figures.push({ name: `${label}.bulk.enqueue`, value: bulk.enqueue, unit: "tasks/s" });
    }
    const dingo = bulks[0][1].process;
    figures.push({ name: "redis.bulk_vs_raw", value: dingo / bulks[1][1].process, unit: "x" });
    figures.push({ name: "redis.bulk_vs_bullmq", value: dingo / bulks[2][1].process, unit: "x" });
  }
}

/** dingo on Redis; `connections` gives the transports command connections of the caller's. */
async function openDingo(
  url: string,
  prefix: string,
  concurrency: number,
  connections?: { worker: Redis; client: Redis },
): Promise<Contender> {
  const workerTransport = createRedisTransport(
    connections === undefined ? { url, prefix } : { connection: connections.worker, prefix },
  );
  const clientTransport = createRedisTransport(
    connections === undefined ? { url, prefix } : { connection: connections.client, prefix },
  );
  const worker = createWorker(workerTransport, { concurrency });
  await worker.serve(MathTasks, mathHandlers);
  const math: Client<typeof MathTasks> = createClient(MathTasks, clientTransport);
  return {
    label: "redis",
    steadyAt: performance.now() + defaultClockSkewMs,
    connections: `${prefix}:`,
    call: () => math.add({ a: 1, b: 2 }).result,
    async close() {
      await worker.close({ timeoutMs: 5000 });
      await Promise.allSettled([workerTransport.close(), clientTransport.close()]);
    },
  };
}

async function openRaw(url: string, prefix: string, concurrency: number, coalesce: boolean): Promise<Contender> {
  const keys = rawKeys(prefix);
  const worker = new RawWorker(url, keys, prefix, concurrency);
  worker.start();
  const caller = new RawCaller(url, keys, prefix, coalesce);
  return {
    label: coalesce ? "redis.raw_coalesced" : "redis.raw",
    connections: `${prefix}:`,
    call: () => caller.add(1, 2),
    async close() {
      await caller.close();
      await worker.close();
    },
  };
}

async function openBull(url: string, prefix: string, concurrency: number): Promise<Contender> {
  const setup = new BullSetup(url, prefix, "bench", concurrency);
  await setup.ready();
  await setup.startWorker();
  return { label: "bullmq", call: () => setup.call(), close: () => setup.close() };
}

async function dingoBulkOnRedis(url: string, prefix: string, options: RedisBenchOptions): Promise<Bulk> {
  const client = createRedisTransport({ url, prefix });
  const worker = createRedisTransport({ url, prefix });
  try {
    return await dingoBulk(client, worker, options.bulkTasks, options.concurrency);
  } finally {
    await Promise.allSettled([worker.close(), client.close()]);
  }
}

async function rawBulk(url: string, prefix: string, options: RedisBenchOptions, coalesce: boolean): Promise<Bulk> {
  const keys = rawKeys(prefix);
  const worker = new RawWorker(url, keys, prefix, options.concurrency);
  const caller = new RawCaller(url, keys, prefix, coalesce);
  try {
    const started = performance.now();
    const calls = Array.from({ length: options.bulkTasks }, () => caller.add(1, 2));
    await caller.sent();
    const enqueued = performance.now();
    worker.start();
    await withTimeout(Promise.all(calls), "the raw baseline's bulk run");
    const processed = performance.now();
    return rates(options.bulkTasks, started, enqueued, processed);
  } finally {
    await caller.close();
    await worker.close();
  }
}

async function bullBulk(url: string, prefix: string, options: RedisBenchOptions): Promise<Bulk> {
  const setup = new BullSetup(url, prefix, "bench-bulk", options.concurrency);
  try {
    await setup.ready();
    const started = performance.now();
    await setup.queue.addBulk(Array.from({ length: options.bulkTasks }, () => ({ name: "add", data: { a: 1, b: 2 } })));
    const enqueued = performance.now();
    let completed = 0;
    let allDone = (): void => {};
    const finished = new Promise<void>((resolve) => {
      allDone = resolve;
    });
    await setup.startWorker(() => {
      if (++completed === options.bulkTasks) allDone();
    });
    await withTimeout(finished, "BullMQ's bulk run");
    const processed = performance.now();
    return rates(options.bulkTasks, started, enqueued, processed);
  } finally {
    await setup.close();
  }
}

function rates(tasks: number, started: number, enqueued: number, processed: number): Bulk {
  return { enqueue: tasks / ((enqueued - started) / 1000), process: tasks / ((processed - enqueued) / 1000) };
}

/** ioredis's `sendCommand`, as the counting wrapper sees it. */
type SendCommand = (this: CountedConnection, command: { name: string; args: unknown[] }, stream?: unknown) => unknown;

interface CountedConnection {
  readonly options: { connectionName?: string };
  readonly scriptsSet?: Record<string, { sha: string }>;
}

/**
 * One counted round of 64 in flight per contender: ioredis commands by connection name,
 * command and script, per completed call; and the server's command counts (scripts'
 * inner commands included) per completed call.
 */
async function countCommands(
  dingo: Contender,
  contenders: readonly Contender[],
  options: RedisBenchOptions,
  probe: Redis,
): Promise<{ figures: Figure[]; notes: string[] }> {
  const figures: Figure[] = [];
  const notes: string[] = [];
  const prototype = Redis.prototype as unknown as { sendCommand: SendCommand };
  const original = prototype.sendCommand;
  let counts = new Map<string, number>();
  prototype.sendCommand = function (command, stream) {
    const label = commandLabel(this, command, stream);
    counts.set(label, (counts.get(label) ?? 0) + 1);
    return original.call(this, command, stream);
  };
  try {
    await roundTrips(dingo.call, options.concurrency, 200);
    for (const contender of [dingo, ...contenders.filter((other) => other.label !== "redis")]) {
      counts = new Map();
      const before = await commandStats(probe);
      const { perSecond } = await roundTrips(contender.call, options.concurrency, options.countMs);
      const after = await commandStats(probe);
      const calls = Math.round((perSecond * options.countMs) / 1000);
      const owner = contender.connections;
      const mine = [...counts].filter(([label]) =>
        owner === undefined ? label.startsWith("(unnamed)") : label.startsWith(owner),
      );
      const client = mine.reduce((sum, [, count]) => sum + count, 0) / calls;
      let server = 0;
      const serverLines: [string, number][] = [];
      for (const [name, count] of after) {
        const delta = count - (before.get(name) ?? 0);
        if (delta <= 0 || name === "info") continue;
        server += delta;
        serverLines.push([name, delta / calls]);
      }
      server /= calls;
      figures.push({
        name: `${contender.label}.c${options.concurrency}.commands_per_call`,
        value: client,
        unit: "commands/call",
      });
      figures.push({
        name: `${contender.label}.c${options.concurrency}.server_commands_per_call`,
        value: server,
        unit: "commands/call",
      });
      notes.push(
        `${contender.label}: ioredis commands per call (${calls} calls), by connection:`,
        ...mine
          .sort((a, b) => b[1] - a[1])
          .filter(([, count]) => count / calls >= 0.005)
          .map(([label, count]) => `    ${(count / calls).toFixed(3)}  ${label}`),
        `  server commands per call (scripts' own commands included; other clients of the server too):`,
        ...serverLines
          .sort((a, b) => b[1] - a[1])
          .filter(([, perCall]) => perCall >= 0.005)
          .map(([name, perCall]) => `    ${perCall.toFixed(3)}  ${name}`),
      );
    }
  } finally {
    prototype.sendCommand = original;
  }
  return { figures, notes };
}

/**
 * dingo for the counted round: its transports are given connections named by role, so
 * that worker and client commands are told apart. Closing it quits them.
 */
async function openCountedDingo(url: string, prefix: string, concurrency: number): Promise<Contender> {
  const workerConnection = new Redis(url, { connectionName: `${prefix}:worker-commands` });
  const clientConnection = new Redis(url, { connectionName: `${prefix}:client-commands` });
  const dingo = await openDingo(url, prefix, concurrency, { worker: workerConnection, client: clientConnection });
  return {
    ...dingo,
    async close() {
      await dingo.close();
      await workerConnection.quit().catch(ignore);
      await clientConnection.quit().catch(ignore);
    },
  };
}

/** Script names by SHA1, as the connections that ran them registered them. */
const scriptNames = new Map<string, string>();

/** `<connection> <COMMAND> [script]`, the script named from the connection's registered scripts. */
function commandLabel(connection: CountedConnection, command: { name: string; args: unknown[] }, stream: unknown) {
  const name = connection.options.connectionName ?? "(unnamed)";
  let what = command.name.toUpperCase();
  if (what === "EVALSHA" || what === "EVAL") {
    const sha = what === "EVALSHA" ? String(command.args[0]) : "";
    let script = scriptNames.get(sha);
    if (script === undefined) {
      script = sha.slice(0, 8);
      for (const [scriptName, registered] of Object.entries(connection.scriptsSet ?? {})) {
        if (registered.sha === sha) script = scriptName;
      }
      scriptNames.set(sha, script);
    }
    what = `${what} ${script}`;
  }
  const pipelined = (stream as { isPipeline?: boolean } | undefined)?.isPipeline === true;
  return `${name} ${what}${pipelined ? " (in a pipeline)" : ""}`;
}

/** CPU time the server has used, s (`INFO cpu`: user + system, main thread and others). */
async function serverCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, "m").exec(info)?.[1] ?? 0);
  return field("used_cpu_user") + field("used_cpu_sys");
}

/** `INFO commandstats` as command name → calls. */
async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const stats = new Map<string, number>();
  for (const line of (await redis.info("commandstats")).split("\n")) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match !== null) stats.set(match[1] as string, Number(match[2]));
  }
  return stats;
}

async function connectProbe(url: string): Promise<Redis> {
  const probe = new Redis(url, {
    connectionName: "bench-probe",
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  probe.on("error", ignore);
  try {
    await probe.connect();
    await probe.ping();
    return probe;
  } catch (error) {
    probe.disconnect();
    throw new Error(
      `Redis is not reachable at ${url} (set REDIS_URL, or start one: redis-server --daemonize yes --save "" --appendonly no)`,
      { cause: error },
    );
  }
}

/** Deletes every key matching `pattern`. */
async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== "0");
}

function ignore(): void {}
