/**
 * Fault tests of the Redis transport with real processes and a real Redis: workers killed
 * with SIGKILL mid-batch, redis-server stopped and restarted mid-run (a private server on
 * a free port, never the shared one), poison entries written straight into a ready
 * stream, and, after each run, no key left without an expiry but the queues' own streams.
 *
 * Workers run in processes of their own (test/fixtures/redis-worker-process.ts) and tell
 * this process what they do, one stdout line per event; the tests await those lines and
 * the callers' outcomes rather than sleeping, and poll Redis (bounded, short waits) only
 * for state that has no event.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { Task } from "../generated/dingo/v1/envelope_pb.js";
import { MathTasks } from "../generated/example/v1/math_dingo.js";
import { AddRequest } from "../generated/example/v1/math_pb.js";
import { decodeTask, encodeTask } from "../src/envelope.js";
import {
  type CallOptions,
  createClient,
  lookupResult,
  type TaskCall,
  TaskError,
  type Transport,
} from "../src/index.js";
import { redisQueueKeys } from "../src/transport/redis-queue-keys.js";
import { createRedisTransport } from "../src/transport/redis-transport.js";
import { conformanceServices } from "./conformance/fixtures.js";
import {
  assertAllSucceeded,
  duplicates,
  executions,
  freePort,
  live,
  names,
  poll,
  Tally,
  WorkerProcess,
  watch,
} from "./fixtures/worker-process-watch.js";
import { deleteKeys, redisUrl, requireRedis, scanKeys } from "./redis-availability.js";

const available = await requireRedis();
const redisServerFound = spawnSync("redis-server", ["--version"]).status === 0;
if (!redisServerFound && process.env.CI === "true") {
  throw new Error("the redis-server binary is not on PATH, and CI=true requires the restart tests");
}

const fixture = fileURLToPath(new URL("./fixtures/redis-worker-process.ts", import.meta.url));

/** A redis-server of this file's own, on a free loopback port, that it may stop and start again. */
class RedisServer {
  private child: ChildProcess | undefined;
  private exited = true;

  private constructor(
    readonly port: number,
    private readonly args: readonly string[],
  ) {}

  /** Starts a server with `args` on a free port (another one if that port was taken meanwhile). */
  static async launch(args: readonly string[]): Promise<RedisServer> {
    for (let tries = 1; ; tries++) {
      const server = new RedisServer(await freePort(), args);
      try {
        await server.start();
        return server;
      } catch (error) {
        if (tries >= 3) throw error;
      }
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--loglevel", "notice", ...this.args],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    this.exited = false;
    live.add(child);
    let output = "";
    let ready = false;
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output = `${output}${line}\n`.slice(-4000);
      if (line.includes("Ready to accept connections")) {
        ready = true;
        watch.changed();
      }
    });
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      output = (output + chunk).slice(-4000);
    });
    child.on("exit", () => {
      live.delete(child);
      this.exited = true;
      watch.changed();
    });
    await watch.until(
      `redis-server on port ${this.port} is ready`,
      () => {
        if (this.exited) throw new Error(`redis-server on port ${this.port} exited: ${output}`);
        return ready;
      },
      10_000,
    );
  }

  /** SIGTERM, as `redis-cli shutdown` or a service manager stops it; waits until it is gone. */
  async stop(): Promise<void> {
    this.child?.kill("SIGTERM");
    await watch.until(`redis-server on port ${this.port} stopped`, () => this.exited, 10_000);
  }
}

/** How a call ended. */
interface Settled {
  readonly id: string;
  readonly index: number;
  readonly sum?: number;
  readonly error?: unknown;
}

type Add = (request: { a: number; b: number }, options: CallOptions) => TaskCall<{ sum: number }>;

/** Calls `add({ a: i, b: i })` for `count` indexes from `from`; every call settles into a Settled. */
function send(add: Add, from: number, count: number, timeoutMs: number, tally: Tally): Promise<Settled>[] {
  return Array.from({ length: count }, (_, k) => {
    const index = from + k;
    const call = add({ a: index, b: index }, { timeoutMs });
    return call.result.then(
      (response): Settled => {
        tally.settled++;
        tally.succeeded++;
        watch.changed();
        return { id: call.id, index, sum: response.sum };
      },
      (error: unknown): Settled => {
        tally.settled++;
        watch.changed();
        return { id: call.id, index, error };
      },
    );
  });
}

/** The consumer groups of a stream, as field → value records. */
async function groupsOf(redis: Redis, key: string): Promise<Record<string, unknown>[]> {
  const reply = (await redis.xinfo("GROUPS", key)) as unknown[][];
  return reply.map((flat) => {
    const record: Record<string, unknown> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) record[String(flat[i])] = flat[i + 1];
    return record;
  });
}

/** Names of the consumers in the group of every ready stream under `prefix`. */
async function consumersUnder(redis: Redis, prefix: string): Promise<Set<string>> {
  const consumers = new Set<string>();
  for (const key of await scanKeys(redis, prefix)) {
    if (!/:ready:\d$/.test(key)) continue;
    for (const group of await groupsOf(redis, key)) {
      for (const consumer of (await redis.xinfo("CONSUMERS", key, String(group.name))) as unknown[][]) {
        consumers.add(String(consumer[consumer.indexOf("name") + 1]));
      }
    }
  }
  return consumers;
}

/**
 * Nothing grows without bound after a run: every key under `prefix` expires except the
 * queues' ready streams, which are empty, with no pending entry and no consumer left in
 * their groups.
 */
async function assertNothingUnbounded(t: TestContext, redis: Redis, prefix: string): Promise<void> {
  await t.test(
    "every key under the prefix expires but the ready streams, which are empty and have no consumers",
    async (s) => {
      const keys = await scanKeys(redis, prefix);
      const unbounded: string[] = [];
      const leftovers: string[] = [];
      let streams = 0;
      for (const key of keys) {
        if (/:ready:\d$/.test(key)) {
          streams++;
          assert.equal(await redis.type(key), "stream", key);
          const length = await redis.xlen(key);
          if (length > 0) leftovers.push(`${key} holds ${length} entries`);
          for (const group of await groupsOf(redis, key)) {
            if (group.consumers !== 0)
              leftovers.push(`${key} group ${String(group.name)}: ${group.consumers} consumers`);
            if (group.pending !== 0) leftovers.push(`${key} group ${String(group.name)}: ${group.pending} pending`);
          }
          continue;
        }
        // -2: it expired between SCAN and PTTL.
        const ttl = await redis.pttl(key);
        if (ttl === -1) unbounded.push(`${key} (${await redis.type(key)})`);
      }
      s.diagnostic(`${keys.length} keys: ${streams} ready streams, ${keys.length - streams} expiring`);
      assert.ok(streams > 0, "the run left its ready streams");
      assert.deepEqual(unbounded, [], "keys without an expiry");
      assert.deepEqual(leftovers, [], "ready streams left with entries, pending entries or consumers");
    },
  );
}

const skipWithoutRedis = available ? false : `Redis is not reachable at ${redisUrl}`;

describe("redis transport under faults", { skip: skipWithoutRedis }, () => {
  let redis: Redis;
  const transports: Transport[] = [];
  const prefixes: string[] = [];
  const directories: string[] = [];

  before(() => {
    redis = new Redis(redisUrl);
  });
  after(async () => {
    for (const child of live) child.kill("SIGKILL");
    await Promise.allSettled(transports.map((transport) => transport.close()));
    for (const prefix of prefixes) await deleteKeys(redis, prefix);
    for (const directory of directories) await rm(directory, { recursive: true, force: true });
    redis.disconnect();
  });

  it("finishes every task of a batch while workers holding tasks are killed with SIGKILL", {
    timeout: 90_000,
  }, async (t) => {
    const began = Date.now();
    const { prefix, suffix } = names();
    prefixes.push(prefix);
    const total = 2400;
    const concurrency = 8;
    const args = [
      ...["--url", redisUrl, "--prefix", prefix, "--queue", suffix, "--concurrency", String(concurrency)],
      ...["--work-ms", "4", "--lease-ms", "1000", "--reclaim-ms", "100"],
    ];
    const survivor = new WorkerProcess(fixture, "the surviving worker", args);
    const victims = [1, 2, 3].map((n) => new WorkerProcess(fixture, `worker ${n} to kill`, args));
    const workers = [survivor, ...victims];
    await Promise.all(workers.map((worker) => worker.ready()));

    const transport = createRedisTransport({ url: redisUrl, prefix });
    transports.push(transport);
    const tasks = createClient(conformanceServices(suffix).Tasks, transport);
    const tally = new Tally();
    const calls = send(tasks.add, 0, total, 60_000, tally);

    // Kill one worker at each quarter of the outcomes, while it runs at least half its slots' worth.
    const inFlightAtKill: string[][] = [];
    for (const [k, victim] of victims.entries()) {
      const due = ((k + 1) * total) / (victims.length + 1);
      await watch.until(`${due} outcomes arrived`, () => tally.succeeded >= due, 30_000);
      await watch.until(`${victim.label} runs tasks`, () => victim.inFlight().length >= concurrency / 2, 10_000);
      await victim.kill();
      // Read after its end: what it had started and not recorded when it died.
      inFlightAtKill.push(victim.inFlight());
    }
    const settled = await Promise.all(calls);
    const ids = assertAllSucceeded(settled, "batch");
    const batchMs = Date.now() - began;

    const runs = executions(workers);
    assert.equal(runs.size, total, "every task ran, and only tasks of the batch");
    for (const id of ids) assert.ok(runs.has(id), `task ${id} ran`);
    // A task runs again only if a worker died running it before its outcome was recorded.
    for (const [id, count] of runs) {
      const heldByKilled = inFlightAtKill.filter((held) => held.includes(id)).length;
      assert.ok(count - 1 <= heldByKilled, `task ${id} ran ${count} times; ${heldByKilled} killed workers held it`);
    }
    const extra = duplicates(runs);
    const inFlight = inFlightAtKill.map((held) => held.length);
    const bound = inFlight.reduce((sum, n) => sum + n, 0);
    t.diagnostic(
      `tasks ${total}, kills ${victims.length}, in flight at the kills ${inFlight.join("+")}=${bound}, ` +
        `executions ${total + extra}, duplicates ${extra}, batch ${batchMs} ms`,
    );
    // A victim is killed while the parent sees it running tasks, but the lines telling of
    // its outcomes lag: it may have finished them all just before the signal. The batch
    // must still have lost workers mid-task.
    assert.ok(
      inFlight.some((n) => n > 0),
      "the kills caught tasks in flight",
    );
    assert.ok(extra <= bound, `duplicates (${extra}) ≤ tasks in flight at the kills (${bound})`);
    assert.ok(survivor.starts.length > 0, "the surviving worker ran tasks");

    await transport.close();
    // The killed workers' consumers own nothing now; the survivor's reclaim forgets them
    // once they have been idle for longer than the lease.
    // (Consumers are named `<host>-<pid>-<random>`.)
    const survivorConsumer = `${hostname()}-${survivor.pid}-`;
    await poll("only the surviving worker's consumer is left in the groups", async () =>
      [...(await consumersUnder(redis, prefix))].every((name) => name.startsWith(survivorConsumer)),
    );
    await survivor.stop();
    await assertNothingUnbounded(t, redis, prefix);
    t.diagnostic(`test ${Date.now() - began} ms`);
  });

  it("dead-letters poison entries written straight into the stream with a reason, and keeps serving", {
    timeout: 60_000,
  }, async (t) => {
    const began = Date.now();
    const { prefix, suffix } = names();
    prefixes.push(prefix);
    const services = conformanceServices(suffix);
    const worker = new WorkerProcess(fixture, "the worker", [
      ...["--url", redisUrl, "--prefix", prefix, "--queue", suffix, "--concurrency", "4"],
    ]);
    await worker.ready();
    const keys = redisQueueKeys(prefix, services.queue);

    const payload = AddRequest.encode({ a: 1, b: 2 }).finish();
    const envelope = (name: string) =>
      Buffer.from(encodeTask(Task.fromPartial({ id: randomUUID(), name, payload, attempt: 1 })));
    // Random bytes, but never a valid envelope: field 1 with wire type 7, which does not exist.
    const random = randomBytes(64);
    random[0] = 0x0f;
    // A valid envelope cut in the middle of its task name.
    const whole = envelope(services.Tasks.methods.add.taskName);
    const truncated = whole.subarray(0, whole.indexOf("dingo.conformance") + 10);
    assert.throws(() => decodeTask(truncated), "the truncated envelope does not decode");
    const unknown = envelope("dingo.conformance.v1.Nobody/Serves");
    const poison: { what: string; stream: string; fields: (string | Buffer)[]; reason: RegExp }[] = [
      {
        what: "random bytes",
        stream: keys.ready[9]!,
        fields: ["task", random],
        reason: /^undecodable task envelope: /,
      },
      {
        what: "a truncated envelope",
        stream: keys.ready[0]!,
        fields: ["task", truncated],
        reason: /^undecodable task envelope: /,
      },
      {
        what: "an unknown task name",
        stream: keys.ready[0]!,
        fields: ["task", unknown],
        reason: /^not_found: no worker serves dingo\.conformance\.v1\.Nobody\/Serves/,
      },
      {
        what: "an entry without a task field",
        stream: keys.ready[5]!,
        fields: ["junk", "1"],
        reason: /without an id or a name/,
      },
    ];
    for (const entry of poison) await redis.xadd(entry.stream, "*", ...entry.fields);

    await watch.until(
      `the worker dead-lettered ${poison.length} entries`,
      () => worker.deadLetterReasons.length >= poison.length,
      10_000,
    );
    // It keeps serving: a normal task after the poison succeeds.
    const transport = createRedisTransport({ url: redisUrl, prefix });
    transports.push(transport);
    assert.deepEqual(await createClient(services.Tasks, transport).add({ a: 20, b: 22 }, { timeoutMs: 10_000 }), {
      sum: 42,
    });

    const letters = await redis.xrangeBuffer(keys.dead, "-", "+");
    assert.equal(letters.length, poison.length, "one dead letter per poison entry");
    const reasons: string[] = [];
    for (const [, flat] of letters) {
      const fields = new Map<string, Buffer>();
      for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), flat[i + 1] as Buffer);
      const body = fields.get("task") ?? Buffer.alloc(0);
      const entry = poison.find((candidate) => {
        const value = candidate.fields[0] === "task" ? (candidate.fields[1] as Buffer) : Buffer.alloc(0);
        return value.equals(body);
      });
      assert.ok(entry !== undefined, "a dead letter holds the bytes of a poison entry as they were written");
      const reason = String(fields.get("reason"));
      assert.match(reason, entry.reason, `the reason for ${entry.what}`);
      assert.equal(String(fields.get("deliveries")), "1");
      reasons.push(`${entry.what}: ${reason}`);
    }
    for (const reason of reasons) t.diagnostic(reason);
    assert.ok((await redis.pttl(keys.dead)) > 0, "the dead-letter stream expires");
    assert.equal(worker.exit, undefined, "the worker is still running");

    await transport.close();
    await worker.stop();
    await assertNothingUnbounded(t, redis, prefix);
    t.diagnostic(`test ${Date.now() - began} ms`);
  });

  it("counts a settle run again with the same report (resent after a dropped connection) as recorded, with its watchers", async () => {
    const { prefix } = names();
    prefixes.push(prefix);
    const transport = createRedisTransport({ url: redisUrl, prefix });
    transports.push(transport);
    const id = randomUUID();
    const key = `dingo.fault.v1.Tasks/Add/${id}`;
    const watcher = `${prefix}:inbox:{${randomUUID()}}`;
    assert.deepEqual(await transport.results.claim(key, "", 60_000), { status: "claimed" });
    assert.deepEqual(await transport.results.claim(key, watcher, 60_000), { status: "pending" });
    const report = new Uint8Array([8, 1, 16, 2]);
    const first = await transport.results.settle(key, report, 60_000);
    assert.deepEqual(first, { recorded: true, watchers: [watcher] });
    // ioredis resends a command whose reply was lost: the worker must hear "recorded" again.
    assert.deepEqual(await transport.results.settle(key, report, 60_000), first, "the same settle, run again");
    assert.deepEqual(
      await transport.results.settle(key, new Uint8Array([8, 1, 16, 3]), 60_000),
      { recorded: false, watchers: [] },
      "another report does not replace the first",
    );
    assert.deepEqual([...((await transport.results.lookup(key)) ?? [])], [...report]);
    // Results of one task name share its hash tag (docs/WIRE.md, Redis mapping).
    const ttl = await redis.pttl(`${prefix}:{dingo.fault.v1.Tasks/Add}:result:${id}`);
    assert.ok(ttl > 0 && ttl <= 60_000, `the record expires (pttl ${ttl})`);
    await transport.close();
  });

  describe("redis-server stops and restarts mid-run", {
    skip: redisServerFound ? false : "redis-server is not on PATH",
  }, () => {
    /** Slots of the two worker processes of a restart run. */
    const workerSlots = 2 * 8;

    /**
     * A run against a private server: two worker processes serving MathTasks, a batch of
     * calls, the server stopped (SIGTERM) once a quarter of the outcomes arrived, calls made
     * while it is down, the server started again on the same port, then calls made after
     * the restart, which must all succeed. Returns how the calls of the batch and of the
     * outage settled, the sum recorded in the result store for each (the server's
     * record, read before it stops), and what the workers ran.
     */
    async function restartRun(t: TestContext, serverArgs: readonly string[], timeoutMs: number) {
      const server = await RedisServer.launch(serverArgs);
      const { prefix } = names();
      const args = [
        ...["--url", server.url, "--prefix", prefix, "--service", "math", "--concurrency", String(workerSlots / 2)],
        ...["--work-ms", "3", "--lease-ms", "3000", "--reclaim-ms", "200"],
      ];
      const workers = [new WorkerProcess(fixture, "worker 1", args), new WorkerProcess(fixture, "worker 2", args)];
      await Promise.all(workers.map((worker) => worker.ready()));
      const transport = createRedisTransport({ url: server.url, prefix });
      transports.push(transport);
      const math = createClient(MathTasks, transport);
      const total = 1000;
      const tally = new Tally();
      const batch = send(math.add, 0, total, timeoutMs, tally);
      await watch.until("a quarter of the outcomes arrived", () => tally.succeeded >= total / 4, 30_000);

      // A connection of the test's own tells when the server is unreachable.
      const probe = new Redis(server.url, { retryStrategy: () => 20, maxRetriesPerRequest: 0 });
      probe.on("error", () => {});
      let reconnects = 0;
      probe.on("reconnecting", () => {
        reconnects++;
        watch.changed();
      });
      await probe.ping();
      const stoppedAt = Date.now();
      await server.stop();
      const settledWhenStopped = tally.settled;
      // Calls made while Redis is down: their publishes wait for the connection.
      const duringOutage = send(math.add, total, 100, timeoutMs, new Tally());
      await watch.until("the server was unreachable for a few reconnection attempts", () => reconnects >= 5, 10_000);
      await server.start();
      const downMs = Date.now() - stoppedAt;
      probe.disconnect();

      const settled = [...(await Promise.all(batch)), ...(await Promise.all(duringOutage))];
      // Served by the same worker processes, which were not restarted.
      const afterwards = await Promise.all(send(math.add, total + 100, 100, 15_000, new Tally()));
      assertAllSucceeded(afterwards, "after the restart");
      const afterIds = new Set(afterwards.map((call) => call.id));
      for (const worker of workers) assert.equal(worker.exit, undefined, `${worker.label} was not restarted`);
      const served = workers.map((worker) => worker.starts.filter((id) => afterIds.has(id)).length);
      t.diagnostic(
        `server down ${downMs} ms after ${settledWhenStopped}/${total} outcomes; ` +
          `tasks after the restart served by each worker: ${served.join(", ")}`,
      );
      const recorded = new Map<string, number | undefined>();
      for (const call of settled) {
        const outcome = await lookupResult(MathTasks.methods.add, transport, call.id);
        recorded.set(call.id, outcome?.status === "success" ? outcome.response.sum : undefined);
      }

      const runs = executions(workers);
      const sawRecorded = new Set(workers.flatMap((worker) => [...worker.recorded]));
      await transport.close();
      for (const worker of workers) await worker.stop();
      const keysOf = new Redis(server.url);
      try {
        await assertNothingUnbounded(t, keysOf, prefix);
      } finally {
        keysOf.disconnect();
        await server.stop();
      }
      return { total, settled, recorded, sawRecorded, runs };
    }

    /** Asserts that a call that did not succeed was ended by the caller's own timeout. */
    function assertTimedOut(call: Settled): void {
      assert.ok(
        call.error instanceof TaskError && call.error.code === "deadline_exceeded",
        `call #${call.index} ended by its caller's timeout, not ${String(call.error)}`,
      );
    }

    it("with persistence (appendfsync always): no task is lost, every caller settles, workers resume by themselves", {
      timeout: 90_000,
    }, async (t) => {
      const began = Date.now();
      const directory = await mkdtemp(join(tmpdir(), "dingo-fault-redis-"));
      directories.push(directory);
      const timeoutMs = 10_000;
      const run = await restartRun(
        t,
        ["--appendonly", "yes", "--appendfsync", "always", "--dir", directory],
        timeoutMs,
      );
      // No task is lost: every one has its outcome recorded, as it would have without the restart.
      for (const call of run.settled) {
        assert.equal(run.recorded.get(call.id), 2 * call.index, `task #${call.index} has its outcome recorded`);
        assert.ok(run.runs.has(call.id), `task #${call.index} ran`);
      }
      // Every caller settles with that outcome. A stopping server may have popped reports
      // from the caller's inbox in its last event loop turn (BLMPOP's effect is in the AOF,
      // its reply is never sent): the caller recovers those outcomes from the result store
      // when its inbox reconnects, so none ends by its own timeout.
      for (const call of run.settled) {
        assert.equal(call.error, undefined, `call #${call.index} got its outcome, not ${String(call.error)}`);
        assert.equal(call.sum, 2 * call.index);
      }
      t.diagnostic(
        `tasks ${run.total} + 100 during the outage + 100 after: all recorded, all outcomes reached their callers; ` +
          `duplicates ${duplicates(run.runs)}; test ${Date.now() - began} ms`,
      );
    });

    it("without persistence: every caller settles (outcome or its own timeout), workers resume by themselves", {
      timeout: 90_000,
    }, async (t) => {
      const began = Date.now();
      const timeoutMs = 4000;
      const run = await restartRun(t, ["--appendonly", "no"], timeoutMs);
      // Tasks waiting in the streams are gone with the server's memory: the callers' own
      // timeouts end those calls, as they must. Calls made during the outage were published
      // to the new server once reconnected: those all succeed.
      const batch = run.settled.slice(0, run.total);
      const duringOutage = run.settled.slice(run.total);
      assertAllSucceeded(duringOutage, "during the outage");
      const timedOut = batch.filter((call) => call.error !== undefined);
      for (const call of timedOut) assertTimedOut(call);
      for (const call of batch) if (call.error === undefined) assert.equal(call.sum, 2 * call.index);
      t.diagnostic(
        `tasks ${run.total}: ${run.total - timedOut.length} succeeded, ${timedOut.length} lost with the server's ` +
          `memory and ended by their callers' ${timeoutMs} ms timeout; 100 during the outage and 100 after ` +
          `all succeeded; duplicates ${duplicates(run.runs)}; test ${Date.now() - began} ms`,
      );
    });
  });
});
