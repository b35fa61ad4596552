/**
 * Round trips over RabbitMQ, several ways in one run against the same broker (`AMQP_URL`,
 * default amqp://guest:guest@127.0.0.1:5672):
 *
 * - `amqp`: dingo's RabbitMQ transport. A worker (concurrency 64) and a client in this
 *   process, each on a transport of its own (`createAmqpTransport({ url, prefix })`, so
 *   separate connections, as when they run in different processes), calling
 *   `MathTasks.Add` (a trivial handler) with the default reports (the outcome). Tasks are
 *   persistent, confirmed, in a durable queue, acked after the outcome is recorded.
 * - `amqp.mixed`: the same with the mixed mode: tasks on RabbitMQ, results and reports on
 *   Redis (`REDIS_URL`, default redis://127.0.0.1:6379; each side's `createRedisTransport`
 *   gives its `results` and `reports`). 64 in flight only. Skipped if Redis is not there.
 * - `amqp.raw`: the baseline, request/reply on plain amqplib with the same durability on
 *   the request: persistent publishes into a durable queue on a confirm channel, pipelined
 *   confirms, a worker with prefetch 64 and manual acks (one `multiple` ack per socket read),
 *   replies to an exclusive reply queue by correlation id (raw-amqp-baseline.ts).
 *   `amqp.raw_direct`: the same with replies through RabbitMQ's direct reply-to.
 *   `amqp.raw_coalesced`: `amqp.raw` with the frames amqplib writes in one tick sent in one
 *   socket write (amqplib writes each frame with a system call of its own), the ceiling of
 *   write coalescing, which no amqplib user gets without patching it.
 *
 * Each has its own names (prefix `bench-<run id>-…`); every queue and exchange they
 * declared is deleted at the end (and the mixed mode's Redis keys). Round trips: rounds of
 * `roundMs` with 1 and with 64 calls in flight, the contenders interleaved (rotated each
 * round, so that none always runs first on a shared machine); the median rate is reported,
 * latency quantiles are over all calls, and the CPU time this process (caller and worker
 * together) and the broker (its `beam.smp`, from /proc) used per call over the rounds at
 * 64 in flight.
 * Bulk: `bulkTasks` tasks enqueued (confirmed) with no worker running, then a worker
 * started and timed until every outcome arrived at the caller.
 *
 * Then one more round of 64 in flight per contender with every AMQP frame counted on its
 * connections, by side and method (publishes, confirms, acks, deliveries), and the socket
 * writes and reads: frames per call. dingo runs that round on transports given
 * connections of the benchmark's (`connection` option), so that they can be told apart.
 *
 * `BENCH_AMQP_ROUNDS` (default 5) and `BENCH_AMQP_ROUND_MS` (default 1000) shorten or
 * lengthen the round trips; the broker's process id is found from the port of `AMQP_URL`
 * (through /proc, which needs the rights to read its file descriptors) unless
 * `BENCH_AMQP_BROKER_PID` gives it. The whole suite takes about a minute with the defaults.
 */

import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { type ChannelModel, connect } from "amqplib";
import { Redis } from "ioredis";
import { MathTasks } from "../generated/example/v1/math_dingo.js";
import { type Client, createClient, createWorker, defaultClockSkewMs } from "../src/index.js";
import { AmqpTaskBroker } from "../src/transport/amqp-task-broker.js";
import { createAmqpTransport } from "../src/transport/amqp-transport.js";
import { createRedisTransport } from "../src/transport/redis-transport.js";
import type { Transport } from "../src/transport/transport.js";
import { type Bulk, dingoBulk, mathHandlers, withTimeout } from "./dingo-bulk.js";
import type { Figure } from "./measure.js";
import { openRawConnection, RawAmqpCaller, RawAmqpWorker, type RawReplies } from "./raw-amqp-baseline.js";
import { type BrokerBenchOptions, interleavedRoundTrips, type RoundTripContender, roundTrips } from "./round-trips.js";

/** Settings of {@link amqpBench}. */
export interface AmqpBenchOptions extends BrokerBenchOptions {
  /** Redis of the mixed mode. */
  readonly redisUrl: string;
}

export const defaultAmqpBenchOptions: AmqpBenchOptions = {
  url: process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672",
  redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  roundMs: Number(process.env.BENCH_AMQP_ROUND_MS ?? 1000),
  rounds: Number(process.env.BENCH_AMQP_ROUNDS ?? 5),
  bulkTasks: 20_000,
  concurrency: 64,
  countMs: 1000,
};

/** One system under measurement: makes round trips, closes. */
export interface Contender extends RoundTripContender {
  /** Figure prefix: `amqp`, `amqp.mixed`, `amqp.raw`, `amqp.raw_direct`. */
  readonly label: string;
  /** Calls in flight it is measured with. */
  readonly inFlight: readonly number[];
  /** Its connections, by side (for counting frames). */
  readonly connections: ReadonlyMap<string, ChannelModel>;
  close(): Promise<void>;
}

/** What a run declared, deleted at its end. */
interface Declared {
  readonly queues: Set<string>;
  readonly exchanges: Set<string>;
}

/** Runs the whole comparison; returns the figures and notes for `report()`. */
export async function amqpBench(
  options: AmqpBenchOptions = defaultAmqpBenchOptions,
): Promise<{ figures: Figure[]; notes: string[] }> {
  const { url, concurrency } = options;
  const probe = await connectProbe(url);
  const redis = await connectRedis(options.redisUrl);
  const broker = brokerProcess(url);
  const run = `bench-${randomBytes(4).toString("hex")}`;
  const declared: Declared = { queues: new Set(), exchanges: new Set() };
  const notes: string[] = [];
  const figures: Figure[] = [];
  const contenders: Contender[] = [];
  try {
    await measureRoundTrips();
    await measureBulk();
  } finally {
    for (const contender of contenders.splice(0)) await contender.close().catch(ignore);
    await deleteDeclared(probe, declared);
    await probe.close().catch(ignore);
    if (redis !== undefined) {
      await deleteKeys(redis, `${run}-*`);
      await redis.quit().catch(ignore);
    }
  }
  const c = concurrency;
  notes.unshift(
    `worker concurrency ${c}; worker and client (caller) on separate connections in this process;`,
    `${options.rounds} rounds of ${options.roundMs} ms per figure (median), interleaved; bulk: ${options.bulkTasks} tasks enqueued (confirmed), then processed;`,
    `raw: persistent confirmed requests, prefetch ${c}, manual acks (one multiple ack per read), replies by correlation id;`,
    "raw_coalesced: raw with amqplib's socket writes of one tick in one writev (a patch of amqplib's muxer, a ceiling);",
    broker.pid === undefined
      ? `broker CPU: not measured (${broker.why}; set BENCH_AMQP_BROKER_PID)`
      : `broker CPU: beam.smp pid ${broker.pid} (user + system, from /proc; other clients of the broker count too)`,
  );
  if (redis === undefined) notes.push(`amqp.mixed: skipped, no Redis at ${options.redisUrl}`);
  return { figures, notes };

  async function measureRoundTrips(): Promise<void> {
    contenders.push(await openDingo(url, `${run}-dingo`, concurrency, declared));
    if (redis !== undefined) {
      contenders.push(await openDingo(url, `${run}-mixed`, concurrency, declared, { redisUrl: options.redisUrl }));
    }
    for (const variant of rawVariants)
      contenders.push(await openRaw(url, `${run}-${variant.id}`, concurrency, variant, declared));

    const c = concurrency;
    const measured = await interleavedRoundTrips(contenders, {
      roundMs: options.roundMs,
      rounds: options.rounds,
      concurrency,
      server: "broker",
      serverCpuSeconds: () => brokerCpuSeconds(broker.pid),
    });
    figures.push(...measured.figures);
    const { rate } = measured;
    figures.push({ name: `amqp.c${c}_vs_raw`, value: rate("amqp", c) / rate("amqp.raw", c), unit: "x" });
    figures.push({ name: `amqp.c${c}_vs_raw_direct`, value: rate("amqp", c) / rate("amqp.raw_direct", c), unit: "x" });
    figures.push({
      name: `amqp.c${c}_vs_raw_coalesced`,
      value: rate("amqp", c) / rate("amqp.raw_coalesced", c),
      unit: "x",
    });
    figures.push({ name: "amqp.c1_vs_raw", value: rate("amqp", 1) / rate("amqp.raw", 1), unit: "x" });
    if (redis !== undefined) {
      figures.push({ name: `amqp.mixed.c${c}_vs_raw`, value: rate("amqp.mixed", c) / rate("amqp.raw", c), unit: "x" });
    }

    if (options.countMs > 0) {
      const counted = await countFrames(url, `${run}-count`, contenders, options, declared);
      figures.push(...counted.figures);
      notes.push(...counted.notes);
    }
    for (const contender of contenders.splice(0)) await contender.close();
  }

  async function measureBulk(): Promise<void> {
    const bulks: [string, Bulk][] = [["amqp", await dingoBulkOnAmqp(url, `${run}-dingo-bulk`, options, declared)]];
    for (const variant of rawVariants) {
      bulks.push([variant.label, await rawBulk(url, `${run}-${variant.id}-bulk`, options, variant, declared)]);
    }
    for (const [label, bulk] of bulks) figures.push({ name: `${label}.bulk`, value: bulk.process, unit: "tasks/s" });
    for (const [label, bulk] of bulks) {
      figures.push({ name: `${label}.bulk.enqueue`, value: bulk.enqueue, unit: "tasks/s" });
    }
    const processed = (label: string) => bulks.find(([name]) => name === label)?.[1].process ?? Number.NaN;
    figures.push({ name: "amqp.bulk_vs_raw", value: processed("amqp") / processed("amqp.raw"), unit: "x" });
  }
}

/** Options of {@link openDingo}. */
interface DingoSetup {
  /** Mixed mode: results and reports on this Redis. */
  readonly redisUrl?: string;
  /** Connections of the caller's to give the transports (they are not closed by them). */
  readonly connections?: { readonly worker: ChannelModel; readonly client: ChannelModel };
}

/** A worker and a client of dingo on RabbitMQ, each on its own transport. */
async function openDingo(
  url: string,
  prefix: string,
  concurrency: number,
  declared: Declared,
  setup: DingoSetup = {},
): Promise<Contender> {
  const side = (connection: ChannelModel | undefined) => {
    const redis = setup.redisUrl === undefined ? undefined : createRedisTransport({ url: setup.redisUrl, prefix });
    const transport = createAmqpTransport({
      ...(connection === undefined ? { url } : { connection }),
      prefix,
      ...(redis === undefined ? {} : { results: redis.results, reports: redis.reports }),
    });
    return { transport, redis };
  };
  const workerSide = side(setup.connections?.worker);
  const clientSide = side(setup.connections?.client);
  const worker = createWorker(workerSide.transport, { concurrency });
  await worker.serve(MathTasks, mathHandlers);
  const math: Client<typeof MathTasks> = createClient(MathTasks, clientSide.transport);
  const connections = new Map<string, ChannelModel>();
  if (setup.connections !== undefined) {
    connections.set("worker", setup.connections.worker);
    connections.set("client", setup.connections.client);
  }
  return {
    label: setup.redisUrl === undefined ? "amqp" : "amqp.mixed",
    steadyAt: performance.now() + defaultClockSkewMs,
    inFlight: setup.redisUrl === undefined ? [1, concurrency] : [concurrency],
    connections,
    call: () => math.add({ a: 1, b: 2 }).result,
    async close() {
      await worker.close({ timeoutMs: 5000 }).catch(ignore);
      recordDeclared(declared, workerSide.transport);
      recordDeclared(declared, clientSide.transport);
      await Promise.allSettled([workerSide.transport.close(), clientSide.transport.close()]);
      await Promise.allSettled([workerSide.redis?.close(), clientSide.redis?.close()]);
    },
  };
}

/** Adds the queues and exchanges a dingo transport declared to `declared`. */
function recordDeclared(declared: Declared, transport: Transport): void {
  if (!(transport.tasks instanceof AmqpTaskBroker)) return;
  const { declaredQueues, declaredExchanges } = transport.tasks.topology;
  for (const queue of declaredQueues) declared.queues.add(queue);
  for (const exchange of declaredExchanges) declared.exchanges.add(exchange);
}

/** The baselines measured: how replies come back, whether socket writes are coalesced. */
interface RawVariant {
  readonly label: string;
  /** Part of its names. */
  readonly id: string;
  readonly replies: RawReplies;
  readonly coalesce: boolean;
}

const rawVariants: readonly RawVariant[] = [
  { label: "amqp.raw", id: "raw", replies: "queue", coalesce: false },
  { label: "amqp.raw_direct", id: "rawd", replies: "direct", coalesce: false },
  { label: "amqp.raw_coalesced", id: "rawc", replies: "queue", coalesce: true },
];

async function openRaw(
  url: string,
  prefix: string,
  concurrency: number,
  variant: RawVariant,
  declared: Declared,
): Promise<Contender> {
  const queue = `${prefix}.requests`;
  declared.queues.add(queue);
  const worker = await RawAmqpWorker.open(url, prefix, queue, concurrency, true, variant.coalesce);
  await worker.start();
  const caller = await RawAmqpCaller.open(url, prefix, queue, variant.replies, variant.coalesce);
  return {
    label: variant.label,
    inFlight: [1, concurrency],
    connections: new Map([
      ["worker", worker.connection],
      ["client", caller.connection],
    ]),
    call: () => caller.add(1, 2),
    async close() {
      await caller.close();
      await worker.close();
    },
  };
}

async function dingoBulkOnAmqp(
  url: string,
  prefix: string,
  options: AmqpBenchOptions,
  declared: Declared,
): Promise<Bulk> {
  const client = createAmqpTransport({ url, prefix });
  const worker = createAmqpTransport({ url, prefix });
  try {
    return await dingoBulk(client, worker, options.bulkTasks, options.concurrency);
  } finally {
    recordDeclared(declared, worker);
    recordDeclared(declared, client);
    await Promise.allSettled([worker.close(), client.close()]);
  }
}

async function rawBulk(
  url: string,
  prefix: string,
  options: AmqpBenchOptions,
  variant: RawVariant,
  declared: Declared,
): Promise<Bulk> {
  const queue = `${prefix}.requests`;
  declared.queues.add(queue);
  const worker = await RawAmqpWorker.open(url, prefix, queue, options.concurrency, true, variant.coalesce);
  const caller = await RawAmqpCaller.open(url, prefix, queue, variant.replies, variant.coalesce);
  try {
    const started = performance.now();
    const calls = Array.from({ length: options.bulkTasks }, () => caller.add(1, 2));
    await caller.confirmed();
    const enqueued = performance.now();
    await worker.start();
    await withTimeout(Promise.all(calls), "the raw baseline's bulk run");
    const processed = performance.now();
    return {
      enqueue: options.bulkTasks / ((enqueued - started) / 1000),
      process: options.bulkTasks / ((processed - enqueued) / 1000),
    };
  } finally {
    await caller.close();
    await worker.close();
  }
}

/** The parts of amqplib's connection (`ChannelModel.connection`) the counting wraps. */
interface CountedConnection {
  sendMethod(channel: number, method: number, fields: unknown): unknown;
  sendMessage(channel: number, method: number, ...rest: unknown[]): unknown;
  recvFrame(): false | { id?: number; content?: unknown };
  /** The socket: `_writeGeneric` is what each write or writev to the OS goes through (Node's net.Socket). */
  readonly stream: { _writeGeneric: (...args: unknown[]) => unknown; read: (...args: unknown[]) => unknown };
}

/**
 * One counted round of 64 in flight per contender: AMQP frames on its connections by side,
 * direction and method, and socket writes and reads, per completed call.
 */
async function countFrames(
  url: string,
  prefix: string,
  contenders: readonly Contender[],
  options: AmqpBenchOptions,
  declared: Declared,
): Promise<{ figures: Figure[]; notes: string[] }> {
  const figures: Figure[] = [];
  const notes: string[] = [];
  const workerConnection = await openRawConnection(url, `${prefix}:worker`);
  const clientConnection = await openRawConnection(url, `${prefix}:client`);
  const dingo = await openDingo(url, prefix, options.concurrency, declared, {
    connections: { worker: workerConnection, client: clientConnection },
  });
  const prototype = Object.getPrototypeOf(connectionOf(workerConnection)) as CountedConnection;
  const original = {
    sendMethod: prototype.sendMethod,
    sendMessage: prototype.sendMessage,
    recvFrame: prototype.recvFrame,
  };
  /** Side of each counted connection; counts by `<side> <direction> <what>`. */
  const sides = new Map<CountedConnection, string>();
  let counts = new Map<string, number>();
  const count = (connection: CountedConnection, what: string) => {
    const side = sides.get(connection);
    if (side === undefined) return;
    const label = `${side} ${what}`;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  };
  prototype.sendMethod = function (channel, method, fields) {
    count(this, `→ ${methodName(method)}`);
    return original.sendMethod.call(this, channel, method, fields);
  };
  prototype.sendMessage = function (channel, method, ...rest) {
    // A publish is three frames: the method, the content header and the body (small here).
    count(this, `→ ${methodName(method)}`);
    count(this, "→ (content header)");
    if ((rest[3] as Buffer).length > 0) count(this, "→ (content body)");
    return original.sendMessage.call(this, channel, method, ...rest);
  };
  // recvFrame calls itself once it has read more bytes: count the frame it returns once.
  let receiving = 0;
  prototype.recvFrame = function () {
    receiving++;
    let frame: ReturnType<CountedConnection["recvFrame"]>;
    try {
      frame = original.recvFrame.call(this);
    } finally {
      receiving--;
    }
    if (receiving === 0 && frame !== false && frame !== undefined && frame !== null) {
      // Methods have a 32-bit id (class << 16 | method); content headers their class id;
      // bodies no id. Only methods are counted by name.
      if (typeof frame.id === "number" && frame.id > 0xffff) count(this, `← ${methodName(frame.id)}`);
      else count(this, frame.content !== undefined ? "← (content body)" : "← (content header)");
    }
    return frame;
  };
  const restores: (() => void)[] = [];
  const counted = [dingo, ...contenders.filter((other) => other.label.startsWith("amqp.raw"))];
  try {
    await roundTrips(dingo.call, options.concurrency, 200);
    for (const contender of counted) {
      sides.clear();
      for (const [side, model] of contender.connections) {
        const connection = connectionOf(model);
        sides.set(connection, side);
        const stream = connection.stream;
        const { _writeGeneric: write, read } = stream;
        const ownWrite = Object.hasOwn(stream, "_writeGeneric");
        const ownRead = Object.hasOwn(stream, "read");
        // Writes as the OS sees them: one per write(2)/writev(2) request, however many
        // frames amqplib handed to the socket for it.
        stream._writeGeneric = function (...args) {
          count(connection, "socket writes");
          return write.apply(this, args);
        };
        stream.read = function (...args) {
          const chunk = read.apply(this, args);
          if (chunk !== null) count(connection, "socket reads");
          return chunk;
        };
        restores.push(() => {
          if (ownWrite) stream._writeGeneric = write;
          else Reflect.deleteProperty(stream, "_writeGeneric");
          if (ownRead) stream.read = read;
          else Reflect.deleteProperty(stream, "read");
        });
      }
      counts = new Map();
      const { latencies } = await roundTrips(contender.call, options.concurrency, options.countMs);
      for (const restore of restores.splice(0)) restore();
      const calls = latencies.length;
      const frames = [...counts].filter(([label]) => !label.includes("socket"));
      const total = frames.reduce((sum, [, n]) => sum + n, 0) / calls;
      const bySide = (side: string) =>
        frames.filter(([label]) => label.startsWith(`${side} `)).reduce((sum, [, n]) => sum + n, 0) / calls;
      figures.push({
        name: `${contender.label}.c${options.concurrency}.frames_per_call`,
        value: total,
        unit: "frames/call",
      });
      for (const side of ["client", "worker"]) {
        figures.push({
          name: `${contender.label}.c${options.concurrency}.${side}_frames_per_call`,
          value: bySide(side),
          unit: "frames/call",
        });
      }
      const writes = [...counts]
        .filter(([label]) => label.endsWith("socket writes"))
        .reduce((sum, [, n]) => sum + n, 0);
      figures.push({
        name: `${contender.label}.c${options.concurrency}.socket_writes_per_call`,
        value: writes / calls,
        unit: "writes/call",
      });
      notes.push(
        `${contender.label}: AMQP frames and socket operations per call (${calls} calls; → sent, ← received; a publish or a delivery is 3 frames, its method, content header and body):`,
        ...[...counts]
          .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
          .filter(([, n]) => n / calls >= 0.005)
          .map(([label, n]) => `    ${(n / calls).toFixed(3)}  ${label}`),
      );
    }
  } finally {
    for (const restore of restores.splice(0)) restore();
    Object.assign(prototype, original);
    await dingo.close();
    await workerConnection.close().catch(ignore);
    await clientConnection.close().catch(ignore);
  }
  return { figures, notes };
}

function connectionOf(model: ChannelModel): CountedConnection {
  return (model as unknown as { connection: CountedConnection }).connection;
}

/** AMQP 0-9-1 class and method names, by class id and method id. */
const methodNames: Record<number, [string, Record<number, string>]> = {
  10: [
    "connection",
    { 10: "start", 11: "start-ok", 30: "tune", 31: "tune-ok", 40: "open", 41: "open-ok", 50: "close", 51: "close-ok" },
  ],
  20: ["channel", { 10: "open", 11: "open-ok", 20: "flow", 21: "flow-ok", 40: "close", 41: "close-ok" }],
  40: ["exchange", { 10: "declare", 11: "declare-ok", 20: "delete", 21: "delete-ok" }],
  50: ["queue", { 10: "declare", 11: "declare-ok", 20: "bind", 21: "bind-ok", 40: "delete", 41: "delete-ok" }],
  60: [
    "basic",
    {
      10: "qos",
      11: "qos-ok",
      20: "consume",
      21: "consume-ok",
      30: "cancel",
      31: "cancel-ok",
      40: "publish",
      50: "return",
      60: "deliver",
      70: "get",
      71: "get-ok",
      72: "get-empty",
      80: "ack",
      90: "reject",
      120: "nack",
    },
  ],
  85: ["confirm", { 10: "select", 11: "select-ok" }],
};

function methodName(id: number): string {
  const classId = id >>> 16;
  const method = id & 0xffff;
  const [className, methods] = methodNames[classId] ?? [`class ${classId}`, {}];
  return `${className}.${methods[method] ?? method}`;
}

/** The broker's process (the one listening on the URL's port), for its CPU time. */
function brokerProcess(url: string): { pid?: number; why?: string } {
  const given = process.env.BENCH_AMQP_BROKER_PID;
  if (given !== undefined && given !== "") return { pid: Number(given) };
  try {
    const port = Number(new URL(url).port || 5672);
    const inodes = new Set<string>();
    for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      let text = "";
      try {
        text = readFileSync(table, "utf8");
      } catch {
        continue;
      }
      for (const line of text.split("\n").slice(1)) {
        const fields = line.trim().split(/\s+/);
        // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; the inode is field 9.
        const local = fields[1];
        if (local === undefined || fields[3] !== "0A") continue;
        if (Number.parseInt(local.split(":")[1] ?? "", 16) === port) inodes.add(fields[9] as string);
      }
    }
    if (inodes.size === 0) return { why: `nothing listens on port ${port} here` };
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${entry}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        try {
          const target = readlinkSync(`/proc/${entry}/fd/${fd}`);
          const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
          if (inode !== undefined && inodes.has(inode)) return { pid: Number(entry) };
        } catch {
          // Gone meanwhile, or not ours to read.
        }
      }
    }
    return { why: `no readable process owns the socket listening on port ${port}` };
  } catch (error) {
    return { why: String(error) };
  }
}

/** CPU time (user + system) a process has used, s; NaN if unknown. */
function brokerCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command (which may hold spaces) start at state, field 3; utime and
    // stime are fields 14 and 15, in clock ticks (100 per second on Linux).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

async function connectProbe(url: string): Promise<ChannelModel> {
  try {
    const probe = await connect(url, { timeout: 5000, clientProperties: { connection_name: "bench-probe" } });
    probe.on("error", ignore);
    return probe;
  } catch (error) {
    throw new Error(
      `RabbitMQ is not reachable at ${url} (set AMQP_URL, or start one, e.g. docker run -d -p 5672:5672 rabbitmq:3)`,
      { cause: error },
    );
  }
}

/** Redis of the mixed mode, or undefined if it is not reachable. */
async function connectRedis(url: string): Promise<Redis | undefined> {
  const redis = new Redis(url, {
    connectionName: "bench-probe",
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  redis.on("error", ignore);
  try {
    await redis.connect();
    await redis.ping();
    return redis;
  } catch {
    redis.disconnect();
    return undefined;
  }
}

/** Deletes the queues and exchanges in `declared` (deleting what is gone is no error in RabbitMQ). */
async function deleteDeclared(probe: ChannelModel, declared: Declared): Promise<void> {
  let channel = await probe.createChannel();
  channel.on("error", ignore);
  const attempt = async (step: () => Promise<unknown>) => {
    try {
      await step();
    } catch {
      // A refused deletion closes the channel: go on with a new one.
      channel = await probe.createChannel();
      channel.on("error", ignore);
    }
  };
  for (const queue of declared.queues) await attempt(() => channel.deleteQueue(queue));
  for (const exchange of declared.exchanges) await attempt(() => channel.deleteExchange(exchange));
  await channel.close().catch(ignore);
}

/** Deletes every Redis key matching `pattern`. */
async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== "0");
}

function ignore(): void {}
