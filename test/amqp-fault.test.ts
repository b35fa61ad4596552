/**
 * Fault tests of the RabbitMQ transport with real processes and a real RabbitMQ: workers
 * killed with SIGKILL mid-batch, RabbitMQ stopped and started again mid-run
 * (`rabbitmqctl stop_app` / `start_app`), poison messages published straight onto a task
 * queue, and, after each run, no queue or exchange left but the declared durable ones.
 *
 * The kill and poison tests use the shared RabbitMQ at AMQP_URL. The restart tests stop
 * RabbitMQ, so they do not touch the shared one (test files run in parallel, and other
 * clients may use it): like the Redis fault tests' own redis-server, they start a private
 * RabbitMQ node (same installation, its own node name, ports and data directory under a
 * temporary directory) and restart that one. It boots in about 4 s.
 *
 * Workers run in processes of their own (test/fixtures/amqp-worker-process.ts) and tell
 * this process what they do, one stdout line per event; the tests await those lines and
 * the callers' outcomes rather than sleeping, and poll (bounded, short waits) only for
 * state that has no event.
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { type ChannelModel, connect } from "amqplib";
import { Redis } from "ioredis";
import { Task } from "../generated/dingo/v1/envelope_pb.js";
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
import { amqpNames } from "../src/transport/amqp-names.js";
import { createAmqpTransport } from "../src/transport/amqp-transport.js";
import { createRedisTransport } from "../src/transport/redis-transport.js";
import { amqpUrl, requireRabbitMq } from "./amqp-availability.js";
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
import { deleteKeys, redisUrl, requireRedis } from "./redis-availability.js";

const rabbit = await requireRabbitMq();
const redisUp = rabbit && (await requireRedis());
const found = (command: string): boolean => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0;
const rabbitmqctlFound = found("rabbitmqctl");
/** A private node runs as the `rabbitmq` user: this process must be it, or root (to `su` to it). */
const rabbitmqUser = spawnSync("id", ["-u", "rabbitmq"], { encoding: "utf8" });
const canLaunchNode =
  rabbitmqctlFound &&
  found("rabbitmq-server") &&
  rabbitmqUser.status === 0 &&
  (process.getuid?.() === 0 || process.getuid?.() === Number(rabbitmqUser.stdout.trim()));
if (process.env.CI === "true" && !(rabbitmqctlFound && canLaunchNode)) {
  throw new Error("rabbitmq-server and rabbitmqctl (run as root or rabbitmq) are required by the fault tests on CI");
}

const fixture = fileURLToPath(new URL("./fixtures/amqp-worker-process.ts", import.meta.url));

/** Runs a command; resolves with its stdout, rejects with its stderr. */
function run(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env: env ?? process.env, timeout: 90_000 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`${command} ${args.join(" ")} failed: ${stderr || error.message}`));
    });
  });
}

/** `rabbitmqctl` on the shared node, or on `node` if given. */
function rabbitmqctl(node: string | undefined, ...args: string[]): Promise<string> {
  return run("rabbitmqctl", [...(node === undefined ? [] : ["-n", node]), "-q", ...args]);
}

/**
 * A RabbitMQ node of this file's own: the installed RabbitMQ, started with its own node
 * name, AMQP and distribution ports, configuration, data and logs in a temporary
 * directory, so that stopping it disturbs nobody. Runs as the `rabbitmq` user (the
 * `rabbitmq-server` wrapper `su`s to it when run as root) and is controlled with
 * `rabbitmqctl -n <node>`.
 */
class RabbitNode {
  private constructor(
    readonly node: string,
    readonly port: number,
    private readonly directory: string,
  ) {}

  static async launch(): Promise<RabbitNode> {
    const directory = await mkdtemp(join(tmpdir(), "dingo-fault-rabbitmq-"));
    const [port, distributionPort] = [await freePort(), await freePort()];
    const node = new RabbitNode(`dingo-fault-${randomUUID().slice(0, 8)}@localhost`, port, directory);
    try {
      await writeFile(join(directory, "rabbitmq.conf"), `listeners.tcp.local = 127.0.0.1:${port}\n`);
      const owner = Number(rabbitmqUser.stdout.trim());
      const group = Number((await run("id", ["-g", "rabbitmq"])).trim());
      await chown(directory, owner, group);
      await chown(join(directory, "rabbitmq.conf"), owner, group);
      await run("rabbitmq-server", ["-detached"], {
        ...process.env,
        RABBITMQ_NODENAME: node.node,
        RABBITMQ_DIST_PORT: String(distributionPort),
        RABBITMQ_CONFIG_FILE: join(directory, "rabbitmq.conf"),
        RABBITMQ_MNESIA_BASE: join(directory, "mnesia"),
        RABBITMQ_LOG_BASE: join(directory, "log"),
        RABBITMQ_PID_FILE: node.pidFile,
        RABBITMQ_ENABLED_PLUGINS_FILE: join(directory, "enabled_plugins"),
      });
      await rabbitmqctl(node.node, "wait", node.pidFile, "--timeout", "60");
      await node.answers();
      return node;
    } catch (error) {
      await node.stop();
      throw error;
    }
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  private get pidFile(): string {
    return join(this.directory, "rabbitmq.pid");
  }

  stopApp(): Promise<string> {
    return rabbitmqctl(this.node, "stop_app");
  }

  startApp(): Promise<string> {
    return rabbitmqctl(this.node, "start_app");
  }

  /** Whether an AMQP connection opens now. */
  async reachable(): Promise<boolean> {
    try {
      const probe = await connect(this.url, { timeout: 1000 });
      probe.on("error", () => {});
      await probe.close();
      return true;
    } catch {
      return false;
    }
  }

  /** Waits until an AMQP connection opens. */
  answers(): Promise<void> {
    return poll(`RabbitMQ node ${this.node} answers`, () => this.reachable(), 30_000);
  }

  /** Halts the node and removes its directory. */
  async stop(): Promise<void> {
    try {
      await rabbitmqctl(this.node, "stop");
    } catch {
      // Not running, or not answering: nothing more to do without its pid file.
    }
    await rm(this.directory, { recursive: true, force: true });
  }
}

/** How a call ended. */
interface Settled {
  readonly id: string;
  readonly index: number;
  /** Whether the broker confirmed the publish (`call.sent` resolved). */
  readonly confirmed: boolean;
  readonly sum?: number;
  readonly error?: unknown;
}

type Add = (request: { a: number; b: number }, options: CallOptions) => TaskCall<{ sum: number }>;

/** Calls `add({ a: i, b: i })` for `count` indexes from `from`; every call settles into a Settled. */
function send(add: Add, from: number, count: number, timeoutMs: number, tally: Tally): Promise<Settled>[] {
  return Array.from({ length: count }, (_, k) => {
    const index = from + k;
    const call = add({ a: index, b: index }, { timeoutMs });
    const confirmed = call.sent.then(
      () => true,
      () => false,
    );
    const result = call.result.then(
      (response) => {
        tally.settled++;
        tally.succeeded++;
        watch.changed();
        return { sum: response.sum };
      },
      (error: unknown) => {
        tally.settled++;
        watch.changed();
        return { error };
      },
    );
    return Promise.all([result, confirmed]).then(([outcome, sent]) => ({
      id: call.id,
      index,
      confirmed: sent,
      ...outcome,
    }));
  });
}

/** The code of a call's TaskError, or a description of whatever else it failed with. */
function codeOf(error: unknown): string {
  return error instanceof TaskError ? error.code : `not a TaskError: ${String(error)}`;
}

/** Names under `prefix.` that `rabbitmqctl list_<what>` shows, with their other columns. */
async function listed(node: string | undefined, what: "queues" | "exchanges", prefix: string, ...columns: string[]) {
  const output = await rabbitmqctl(node, `list_${what}`, "name", ...columns, "--no-table-headers");
  return output
    .split("\n")
    .map((line) => line.split("\t"))
    .filter(([name]) => name?.startsWith(`${prefix}.`));
}

/**
 * After a run whose callers and workers are all closed: the only queues and exchanges
 * left under the prefix are the declared durable ones (task queues, empty; dead-letter
 * queues; delay buckets; the task, dead-letter and broadcast exchanges), no caller's inbox
 * queue is left, and no worker's broadcast queue is still bound. Then deletes them and
 * checks that nothing is left.
 */
async function assertOnlyDurableTopologyLeft(
  t: TestContext,
  options: { node?: string; url: string; prefix: string; taskQueues: readonly string[] },
): Promise<void> {
  await t.test("only the declared durable queues and exchanges are left, then deleted", async (s) => {
    const { node, prefix } = options;
    const names = amqpNames(prefix);
    const queues = await listed(node, "queues", prefix, "messages");
    const exchanges = (await listed(node, "exchanges", prefix)).map(([name]) => name as string);
    const queueNames = queues.map(([name]) => name as string);
    s.diagnostic(`left: queues ${queueNames.join(", ")}; exchanges ${exchanges.join(", ")}`);
    assert.deepEqual(
      queueNames.filter((name) => name.startsWith(`${prefix}.inbox.`)),
      [],
      "no inbox queue of a closed caller is left",
    );
    const durable = new RegExp(`^${escapeRegExp(prefix)}\\.(task|dead|delay)\\.`);
    assert.deepEqual(
      queueNames.filter((name) => !durable.test(name)),
      [],
      "only task, dead-letter and delay queues",
    );
    for (const queue of options.taskQueues) assert.ok(queueNames.includes(names.taskQueue(queue)), "the task queue");
    for (const [name, messages] of queues) {
      if (name?.startsWith(`${prefix}.task.`)) assert.equal(messages, "0", `${name} is empty`);
    }
    const allowed = new RegExp(`^${escapeRegExp(prefix)}\\.(tasks|dead|broadcast|delay\\.\\d+)$`);
    assert.deepEqual(
      exchanges.filter((name) => !allowed.test(name)),
      [],
      "only the task, dead-letter, broadcast and delay exchanges",
    );
    const bindings = await rabbitmqctl(node, "list_bindings", "source_name", "destination_name", "--no-table-headers");
    const toBroadcast = bindings.split("\n").filter((line) => line.startsWith(`${names.broadcast}\t`));
    assert.deepEqual(toBroadcast, [], "no worker's broadcast queue is left bound");

    await deleteUnder(node, options.url, prefix);
    assert.deepEqual(await listed(node, "queues", prefix), [], "no queue left");
    assert.deepEqual(await listed(node, "exchanges", prefix), [], "no exchange left");
  });
}

/** Deletes every queue and exchange under `prefix.` (what a test declared, or left after failing). */
async function deleteUnder(node: string | undefined, url: string, prefix: string): Promise<void> {
  const queues = (await listed(node, "queues", prefix)).map(([name]) => name as string);
  const exchanges = (await listed(node, "exchanges", prefix)).map(([name]) => name as string);
  if (queues.length === 0 && exchanges.length === 0) return;
  const connection = await connect(url);
  connection.on("error", () => {});
  try {
    const channel = await connection.createChannel();
    for (const name of queues) await channel.deleteQueue(name);
    for (const name of exchanges) await channel.deleteExchange(name);
    await channel.close();
  } finally {
    await connection.close();
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Where a run keeps outcomes: in each process (RabbitMQ only), or in Redis (mixed mode). */
type ResultsMode = "memory" | "redis";

const skipWithoutRabbit = rabbit ? false : `RabbitMQ is not reachable at ${amqpUrl}`;
const skipWithoutRabbitmqctl = rabbitmqctlFound ? false : "rabbitmqctl is not on PATH";

describe("amqp transport under faults", { skip: skipWithoutRabbit || skipWithoutRabbitmqctl }, () => {
  let redis: Redis | undefined;
  const transports: Transport[] = [];
  const closers: (() => Promise<void>)[] = [];
  const prefixes: string[] = [];
  /** Prefixes of runs on the shared RabbitMQ: whatever a failed test left there is deleted at the end. */
  const sharedPrefixes: string[] = [];

  before(() => {
    if (redisUp) redis = new Redis(redisUrl);
  });
  after(async () => {
    for (const child of live) child.kill("SIGKILL");
    await Promise.allSettled(transports.map((transport) => transport.close()));
    await Promise.allSettled(closers.map((close) => close()));
    for (const prefix of sharedPrefixes) await deleteUnder(undefined, amqpUrl, prefix).catch(() => {});
    if (redis !== undefined) {
      for (const prefix of prefixes) await deleteKeys(redis, prefix);
      redis.disconnect();
    }
  });

  /** A caller's transport; `results: "redis"` keeps outcomes in Redis under the prefix. */
  function callerTransport(url: string, prefix: string, results: ResultsMode): Transport {
    let store: ReturnType<typeof createRedisTransport> | undefined;
    if (results === "redis") {
      store = createRedisTransport({ url: redisUrl, prefix });
      const opened = store;
      closers.push(() => opened.close());
    }
    const transport = createAmqpTransport({ url, prefix, results: store?.results });
    transports.push(transport);
    return transport;
  }

  for (const results of ["redis", "memory"] as const) {
    const mode = results === "redis" ? "mixed mode, outcomes in Redis" : "RabbitMQ only, outcomes in each process";
    it(`finishes every task of a batch while workers holding tasks are killed with SIGKILL (${mode})`, {
      timeout: 90_000,
      skip: results === "redis" && !redisUp ? `Redis is not reachable at ${redisUrl}` : false,
    }, async (t) => {
      const began = Date.now();
      const { prefix, suffix } = names();
      prefixes.push(prefix);
      sharedPrefixes.push(prefix);
      const total = 2400;
      const concurrency = 8;
      const args = [
        ...["--url", amqpUrl, "--prefix", prefix, "--queue", suffix, "--results", results],
        ...["--redis-url", redisUrl, "--concurrency", String(concurrency), "--work-ms", "4"],
      ];
      const survivor = new WorkerProcess(fixture, "the surviving worker", args);
      const victims = [1, 2, 3].map((n) => new WorkerProcess(fixture, `worker ${n} to kill`, args));
      const workers = [survivor, ...victims];
      await Promise.all(workers.map((worker) => worker.ready()));

      const transport = callerTransport(amqpUrl, prefix, results);
      const services = conformanceServices(suffix);
      const tasks = createClient(services.Tasks, transport);
      const tally = new Tally();
      const calls = send(tasks.add, 0, total, 60_000, tally);

      // Kill one worker at each quarter of the outcomes, while it runs at least half its slots' worth.
      const inFlightAtKill: string[][] = [];
      const startedAtKill: string[][] = [];
      for (const [k, victim] of victims.entries()) {
        const due = ((k + 1) * total) / (victims.length + 1);
        await watch.until(`${due} outcomes arrived`, () => tally.succeeded >= due, 30_000);
        await watch.until(`${victim.label} runs tasks`, () => victim.inFlight().length >= concurrency / 2, 10_000);
        await victim.kill();
        // Read after its end: what it had started, and what of that it had not recorded, when it died.
        inFlightAtKill.push(victim.inFlight());
        startedAtKill.push([...victim.starts]);
      }
      const settled = await Promise.all(calls);
      const ids = assertAllSucceeded(settled, "batch");
      const batchMs = Date.now() - began;

      // A report can reach this process before the worker's lines about it do (another
      // socket): count executions once every worker has exited and all it printed is read.
      await transport.close();
      await survivor.stop();
      const runs = executions(workers);
      assert.equal(runs.size, total, "every task ran, and only tasks of the batch");
      for (const id of ids) assert.ok(runs.has(id), `task ${id} ran`);
      const extra = duplicates(runs);
      const inFlight = inFlightAtKill.map((held) => held.length);
      const bound = inFlight.reduce((sum, n) => sum + n, 0);
      t.diagnostic(
        `${mode}: tasks ${total}, kills ${victims.length}, in flight (started, not recorded) at the kills ` +
          `${inFlight.join("+")}=${bound}, executions ${total + extra}, duplicates ${extra}, batch ${batchMs} ms`,
      );
      // A victim is killed while the parent sees it running tasks, but the lines telling of
      // its outcomes lag: it may have finished them all just before the signal. The batch
      // must still have lost workers mid-task.
      assert.ok(
        inFlight.some((n) => n > 0),
        "the kills caught tasks in flight",
      );
      if (results === "redis") {
        // Every process sees every record: a task runs again only if a worker died running
        // it before its outcome was recorded.
        for (const [id, count] of runs) {
          const heldByKilled = inFlightAtKill.filter((held) => held.includes(id)).length;
          assert.ok(count - 1 <= heldByKilled, `task ${id} ran ${count} times; ${heldByKilled} killed workers held it`);
        }
        assert.ok(extra <= bound, `duplicates (${extra}) ≤ tasks in flight at the kills (${bound})`);
      } else {
        // A worker's record is in its own memory: a task it recorded but had not acked yet
        // when it died runs again elsewhere. A task runs again only if a killed worker had
        // started it, and RabbitMQ gives back at most the prefetch window of each killed
        // worker's channel (its unacked deliveries).
        for (const [id, count] of runs) {
          const startedByKilled = startedAtKill.filter((started) => started.includes(id)).length;
          assert.ok(
            count - 1 <= startedByKilled,
            `task ${id} ran ${count} times; ${startedByKilled} killed workers ran it`,
          );
        }
        const window = victims.length * concurrency;
        assert.ok(extra <= window, `duplicates (${extra}) ≤ the killed workers' unacked windows (${window})`);
      }
      assert.ok(survivor.starts.length > 0, "the surviving worker ran tasks");

      await assertOnlyDurableTopologyLeft(t, { url: amqpUrl, prefix, taskQueues: [services.queue] });
      t.diagnostic(`test ${Date.now() - began} ms`);
    });
  }

  it("dead-letters poison messages published straight onto a task queue with a reason, and keeps serving", {
    timeout: 60_000,
  }, async (t) => {
    const began = Date.now();
    const { prefix, suffix } = names();
    prefixes.push(prefix);
    sharedPrefixes.push(prefix);
    const services = conformanceServices(suffix);
    const amqp = amqpNames(prefix);
    const worker = new WorkerProcess(fixture, "the worker", [
      ...["--url", amqpUrl, "--prefix", prefix, "--queue", suffix, "--concurrency", "4"],
    ]);
    // Ready means serving: the task queue is declared and consumed.
    await worker.ready();

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
    const poison = [
      { what: "random bytes", body: random, reason: /^undecodable task envelope: / },
      { what: "a truncated envelope", body: truncated, reason: /^undecodable task envelope: / },
      {
        what: "an unknown task name",
        body: envelope("dingo.conformance.v1.Nobody/Serves"),
        reason: /^not_found: no worker serves dingo\.conformance\.v1\.Nobody\/Serves/,
      },
      { what: "an empty body", body: Buffer.alloc(0), reason: /without an id or a name/ },
    ];
    // Straight onto the task queue, through the default exchange, as a foreign publisher might.
    const raw: ChannelModel = await connect(amqpUrl);
    raw.on("error", () => {});
    try {
      const channel = await raw.createConfirmChannel();
      for (const entry of poison) {
        channel.publish("", amqp.taskQueue(services.queue), entry.body, { persistent: true });
      }
      await channel.waitForConfirms();
      await channel.close();

      await watch.until(
        `the worker dead-lettered ${poison.length} messages`,
        () => worker.deadLetterReasons.length >= poison.length,
        10_000,
      );
      // It keeps serving: a normal task after the poison succeeds.
      const transport = callerTransport(amqpUrl, prefix, "memory");
      assert.deepEqual(await createClient(services.Tasks, transport).add({ a: 20, b: 22 }, { timeoutMs: 10_000 }), {
        sum: 42,
      });

      const reader = await raw.createChannel();
      const reasons: string[] = [];
      const matched = new Set<string>();
      for (;;) {
        const letter = await reader.get(amqp.deadQueue(services.queue), { noAck: true });
        if (letter === false) break;
        const entry = poison.find((candidate) => candidate.body.equals(letter.content));
        assert.ok(entry !== undefined, "a dead letter holds the bytes of a poison message as they were published");
        const headers = letter.properties.headers ?? {};
        const reason = String(headers["dingo-reason"]);
        assert.match(reason, entry.reason, `the reason for ${entry.what}`);
        assert.equal(String(headers["dingo-queue"]), services.queue);
        assert.equal(Number(headers["dingo-deliveries"]), 1);
        assert.equal(letter.properties.deliveryMode, 2, "persistent");
        matched.add(entry.what);
        reasons.push(`${entry.what}: ${reason}`);
      }
      await reader.close();
      for (const reason of reasons) t.diagnostic(reason);
      assert.equal(reasons.length, poison.length, "one dead letter per poison message");
      assert.equal(matched.size, poison.length, "each poison message dead-lettered");
      assert.equal(worker.exit, undefined, "the worker is still running");

      await transport.close();
    } finally {
      await raw.close();
    }
    await worker.stop();
    await assertOnlyDurableTopologyLeft(t, { url: amqpUrl, prefix, taskQueues: [services.queue] });
    t.diagnostic(`test ${Date.now() - began} ms`);
  });

  describe("RabbitMQ stops and starts again mid-run (rabbitmqctl stop_app / start_app, a private node)", {
    skip: canLaunchNode ? false : "cannot start a private RabbitMQ node (rabbitmq-server, or root, missing)",
  }, () => {
    let node: RabbitNode | undefined;
    before(async () => {
      node = await RabbitNode.launch();
    });
    after(async () => {
      await node?.stop();
    });

    /** Slots of the two worker processes of a restart run. */
    const concurrency = 8;

    /**
     * A run on the private node: two worker processes, a batch of calls, RabbitMQ's
     * application stopped once a quarter of the outcomes arrived, calls made while it is
     * down, the application started again (in a `finally`), then calls made after the
     * restart, which must all succeed on the same, never restarted, processes.
     */
    async function restartRun(t: TestContext, results: ResultsMode, timeoutMs: number) {
      const rabbitNode = node;
      assert.ok(rabbitNode !== undefined);
      const { prefix, suffix } = names();
      prefixes.push(prefix);
      const args = [
        ...["--url", rabbitNode.url, "--prefix", prefix, "--queue", suffix, "--results", results],
        ...["--redis-url", redisUrl, "--concurrency", String(concurrency), "--work-ms", "30"],
      ];
      const workers = [new WorkerProcess(fixture, "worker 1", args), new WorkerProcess(fixture, "worker 2", args)];
      await Promise.all(workers.map((worker) => worker.ready()));
      const transport = callerTransport(rabbitNode.url, prefix, results);
      const services = conformanceServices(suffix);
      const tasks = createClient(services.Tasks, transport);
      const total = 1000;
      const tally = new Tally();
      const batch = send(tasks.add, 0, total, timeoutMs, tally);
      // Most of the batch still waits in the queue (confirmed, durable) or runs when RabbitMQ stops.
      await watch.until("a tenth of the outcomes arrived", () => tally.succeeded >= total / 10, 30_000);

      const stoppedAt = Date.now();
      // Calls made while `stop_app` runs, one every 2 ms: some publishes are on the wire
      // when the connection closes, unconfirmed.
      const whileStopping: Promise<Settled>[] = [];
      const trickle = setInterval(() => {
        if (whileStopping.length < 300) {
          whileStopping.push(...send(tasks.add, total + whileStopping.length, 1, timeoutMs, new Tally()));
        }
      }, 2);
      let duringOutage: Promise<Settled>[] = [];
      let settledWhenStopped = 0;
      try {
        await rabbitNode.stopApp();
        clearInterval(trickle);
        settledWhenStopped = tally.settled;
        assert.equal(await rabbitNode.reachable(), false, "RabbitMQ refuses connections while stopped");
        // Calls made while RabbitMQ is down: their publishes wait for a connection.
        duringOutage = send(tasks.add, total + 300, 100, timeoutMs, new Tally());
        // Both workers noticed (their consumers report the closed channel).
        await watch.until(
          "both workers lost their connection",
          () => workers.every((w) => w.errors.length > 0),
          10_000,
        );
      } finally {
        clearInterval(trickle);
        await rabbitNode.startApp();
      }
      await rabbitNode.answers();
      const downMs = Date.now() - stoppedAt;

      const settled = [
        ...(await Promise.all(batch)),
        ...(await Promise.all(whileStopping)),
        ...(await Promise.all(duringOutage)),
      ];
      // Served by the same worker processes, which were not restarted.
      const afterwards = await Promise.all(send(tasks.add, total + 400, 100, 15_000, new Tally()));
      assertAllSucceeded(afterwards, "after the restart");
      const afterIds = new Set(afterwards.map((call) => call.id));
      for (const worker of workers) assert.equal(worker.exit, undefined, `${worker.label} was not restarted`);

      const recorded = new Map<string, number | undefined>();
      if (results === "redis") {
        for (const call of settled) {
          const outcome = await lookupResult(services.Tasks.methods.add, transport, call.id);
          recorded.set(call.id, outcome?.status === "success" ? outcome.response.sum : undefined);
        }
      }
      await transport.close();
      // Counted once the workers have exited and all they printed is read (see above).
      for (const worker of workers) await worker.stop();
      const runs = executions(workers);
      const sawRecorded = new Set(workers.flatMap((worker) => [...worker.recorded]));
      const served = workers.map((worker) => worker.starts.filter((id) => afterIds.has(id)).length);
      assert.ok(
        served.every((n) => n > 0),
        "both workers served tasks after the restart",
      );
      // Publishes the broker refused or never confirmed (the channel closed first): the call
      // failed with UNAVAILABLE, as docs/WIRE.md says; the broker may have the task anyway.
      const rejected = settled.filter((call) => !call.confirmed);
      for (const call of rejected) {
        assert.equal(codeOf(call.error), "unavailable", `call #${call.index}: an unconfirmed publish fails the call`);
      }
      t.diagnostic(
        `RabbitMQ down ${downMs} ms after ${settledWhenStopped}/${total} outcomes of the batch; ` +
          `calls made while it stopped ${whileStopping.length}, while it was down 100; ` +
          `publishes rejected during the outage: ${rejected.length} ` +
          `(${rejected.filter((call) => runs.has(call.id)).length} of them ran anyway); ` +
          `tasks after the restart served by each worker: ${served.join(", ")}`,
      );

      await assertOnlyDurableTopologyLeft(t, {
        node: rabbitNode.node,
        url: rabbitNode.url,
        prefix,
        taskQueues: [services.queue],
      });
      return { total, settled, rejected, recorded, sawRecorded, runs };
    }

    it("mixed mode (outcomes in Redis): no confirmed task is lost, every caller gets its outcome, workers resume by themselves", {
      timeout: 90_000,
      skip: redisUp ? false : `Redis is not reachable at ${redisUrl}`,
    }, async (t) => {
      const began = Date.now();
      const run = await restartRun(t, "redis", 20_000);
      for (const call of run.settled) {
        if (!call.confirmed) continue;
        // Confirmed: the task is durable in RabbitMQ, so it ran and its outcome is recorded.
        assert.equal(run.recorded.get(call.id), 2 * call.index, `task #${call.index} has its outcome recorded`);
        // Reports in flight are transient and lost with the restart; the caller recovers
        // those outcomes from the result store when its inbox is read again.
        assert.equal(call.error, undefined, `call #${call.index} got its outcome, not ${String(call.error)}`);
        assert.equal(call.sum, 2 * call.index);
      }
      t.diagnostic(
        `calls ${run.settled.length} + 100 after: ${run.settled.length - run.rejected.length} ` +
          `confirmed, all recorded and all outcomes at their callers; ${run.rejected.length} rejected with ` +
          `UNAVAILABLE; duplicates ${duplicates(run.runs)}; test ${Date.now() - began} ms`,
      );
    });

    it("RabbitMQ only: no confirmed task is lost, every caller settles (outcome, UNAVAILABLE or its own timeout)", {
      timeout: 90_000,
    }, async (t) => {
      const began = Date.now();
      const timeoutMs = 15_000;
      const run = await restartRun(t, "memory", timeoutMs);
      // Confirmed: the task is durable in RabbitMQ, so a worker ran it and recorded its outcome.
      for (const call of run.settled) {
        if (call.confirmed) assert.ok(run.sawRecorded.has(call.id), `task #${call.index} ran to its outcome`);
      }
      // Every call settled (the awaits above returned). A report in flight during the
      // restart is transient and lost, and the outcome is in the worker's memory only: those
      // calls end by their callers' own timeout.
      const timedOut = run.settled.filter((call) => call.confirmed && call.error !== undefined);
      for (const call of timedOut) {
        assert.equal(codeOf(call.error), "deadline_exceeded", `call #${call.index} ended by its caller's timeout`);
      }
      for (const call of run.settled) if (call.error === undefined) assert.equal(call.sum, 2 * call.index);
      t.diagnostic(
        `calls ${run.settled.length} + 100 after: ${run.settled.length - run.rejected.length} ` +
          `confirmed and all ran; ${run.rejected.length} rejected with UNAVAILABLE; ${timedOut.length} ` +
          `reports lost with the restart, ended by their callers' ${timeoutMs} ms timeout; ` +
          `duplicates ${duplicates(run.runs)}; test ${Date.now() - began} ms`,
      );
    });
  });
});
