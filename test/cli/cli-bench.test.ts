/**
 * `dingo bench` as a user runs it: short runs on the memory transport, Redis, RabbitMQ
 * and the mixed mode, bad input, SIGINT; and its progress display on a terminal.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { createBenchProgress } from "../../src/cli/bench-progress.js";
import { amqpNames } from "../../src/transport/amqp-names.js";
import { amqpUrl, openInspector, requireRabbitMq } from "../amqp-availability.js";
import { deleteKeys, deletePrefix, redisUrl, requireRedis, scanKeys } from "../redis-availability.js";
import { assertOneLineError, type DingoExit, DingoProcess, dingo, killAll, uniquePrefix } from "./dingo-process.js";

const redisAvailable = await requireRedis();
const rabbitAvailable = await requireRabbitMq();
after(killAll);

/** Short enough to keep the suite fast, long enough for hundreds of calls. */
const short = ["--duration", "300", "--warmup", "100"];

/** The fields of `--json`'s summary. */
interface Summary {
  transport: string;
  queue: string;
  concurrency: number;
  payload_bytes: number;
  duration_ms: number;
  calls: number;
  calls_per_second: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  errors: number;
  interrupted: boolean;
}

/** The summary of a successful `--json` run, checked for plausibility. */
function plausibleSummary(exit: DingoExit): Summary {
  assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
  const lines = exit.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one JSON line on stdout: ${exit.stdout}`);
  const summary = JSON.parse(lines[0] as string) as Summary;
  assert.ok(summary.calls > 0, `calls: ${summary.calls}`);
  assert.equal(summary.errors, 0);
  assert.ok(summary.calls_per_second > 0);
  assert.ok(summary.duration_ms > 0);
  // The rate is the calls over the measured time.
  const rate = summary.calls / (summary.duration_ms / 1000);
  assert.ok(Math.abs(summary.calls_per_second - rate) <= rate * 0.01, `${summary.calls_per_second} vs ${rate}`);
  assert.ok(0 < summary.p50_ms && summary.p50_ms <= summary.p99_ms && summary.p99_ms <= summary.max_ms, exit.stdout);
  assert.match(summary.queue, /^dingo-bench-[0-9a-f-]{36}$/);
  assert.ok(!exit.stderr.includes("\x1b"), "no terminal escapes when stderr is not a terminal");
  return summary;
}

describe("dingo bench on the memory transport", { concurrency: true, timeout: 45_000 }, () => {
  it("prints a summary table with plausible figures and plain progress lines", async () => {
    const exit = await dingo(["bench", ...short, "--concurrency", "8"]);
    assert.equal(exit.code, 0, exit.stderr);
    const [heading, head, row, ...rest] = exit.stdout.trimEnd().split("\n");
    assert.match(heading ?? "", /^dingo bench on memory:, 8 in flight, 0-byte payloads, \d+\.\d\d s measured$/);
    assert.deepEqual(head?.trim().split(/\s+/), ["calls", "calls/s", "p50", "ms", "p99", "ms", "max", "ms", "errors"]);
    assert.deepEqual(rest, []);
    const [calls, rate, p50, p99, max, errors] = (row ?? "").trim().split(/\s+/).map(Number);
    assert.ok(calls !== undefined && calls > 0 && rate !== undefined && rate > 0, row);
    assert.ok(p50 !== undefined && p99 !== undefined && max !== undefined, row);
    assert.ok(p50 > 0 && p50 <= p99 && p99 <= max, row);
    assert.equal(errors, 0);
    // Plain lines on stderr, one per phase start and end, no bar.
    assert.match(exit.stderr, /^dingo bench: memory:, queue dingo-bench-\S+, 8 in flight, 0-byte payloads\n/);
    assert.match(exit.stderr, /\ndingo bench: warm-up \(100 ms\)\n/);
    assert.match(exit.stderr, /\ndingo bench: measuring \(300 ms\)\n/);
    assert.match(
      exit.stderr,
      new RegExp(`\\ndingo bench: measuring done: \\d+\\.\\d s {2}${calls} calls {2}\\d+ calls/s {2}0 errors\\n$`),
    );
    assert.ok(!exit.stderr.includes("\x1b") && !exit.stderr.includes("\r"), "no bar");
  });

  it("--json prints one JSON object; --calls runs exactly that many; --payload is echoed", async () => {
    const summary = plausibleSummary(
      await dingo(["bench", "--json", "--calls", "500", "-c", "4", "--payload", "2048", "--warmup", "0"]),
    );
    assert.equal(summary.calls, 500);
    assert.equal(summary.concurrency, 4);
    assert.equal(summary.payload_bytes, 2048);
    assert.equal(summary.transport, "memory:");
    assert.equal(summary.interrupted, false);
  });

  it("SIGINT stops the run early and still prints the summary", async () => {
    const bench = new DingoProcess(["bench", "--json", "--duration", "60000", "--warmup", "0", "-c", "4"]);
    await bench.waitFor(/^dingo bench: measuring \(60000 ms\)$/, "stderr");
    bench.kill("SIGINT");
    const exit = await bench.exited;
    const summary = plausibleSummary(exit);
    assert.equal(summary.interrupted, true);
    assert.ok(summary.duration_ms < 30_000, `stopped early: ${summary.duration_ms} ms`);
    assert.match(exit.stderr, /\ndingo bench: SIGINT: finishing the calls in flight/);
  });
});

describe("dingo bench on bad input", { concurrency: true, timeout: 45_000 }, () => {
  it("an unreachable Redis or RabbitMQ: one line, exit 1", async () => {
    const [redis, rabbit] = await Promise.all([
      dingo(["bench", "-t", "redis://127.0.0.1:1"]),
      dingo(["bench", "-t", "amqp://guest:guest@127.0.0.1:1"]),
    ]);
    assertOneLineError(redis, /^dingo: cannot reach Redis at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/);
    assertOneLineError(rabbit, /^dingo: cannot reach RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1: /);
  });

  it("an unsupported URL: one line, exit 1", async () => {
    assertOneLineError(await dingo(["bench", "-t", "nats://127.0.0.1"]), /--transport: unsupported URL "nats:/);
  });

  it("a bad --concurrency, or --duration with --calls: commander's usage error, exit 1", async () => {
    const [zero, word, both] = await Promise.all([
      dingo(["bench", "--concurrency", "0"]),
      dingo(["bench", "-c", "many"]),
      dingo(["bench", "--duration", "300", "--calls", "10"]),
    ]);
    for (const exit of [zero, word, both]) {
      assert.equal(exit.code, 1, exit.stderr);
      assert.equal(exit.stdout, "");
      assert.doesNotMatch(exit.stderr, /\n\s+at /, "no stack trace");
    }
    assert.match(
      zero.stderr,
      /^error: option '-c, --concurrency <n>' argument '0' is invalid\. Expected an integer >= 1\.\n/,
    );
    assert.match(word.stderr, /argument 'many' is invalid/);
    assert.match(both.stderr, /^error: option '-d, --duration <ms>' cannot be used with option '-n, --calls <n>'\n/);
  });

  it("--help documents every option, the exit codes and examples", async () => {
    const exit = await dingo(["bench", "--help"]);
    assert.equal(exit.code, 0);
    for (const text of [
      "--transport",
      "DINGO_TRANSPORT",
      "--results",
      "--prefix",
      "--concurrency",
      "--duration",
      "--calls",
      "--payload",
      "--warmup",
      "--timeout",
      "--json",
      "SIGINT",
      "Exit codes",
      "$ dingo bench -t redis://",
    ]) {
      assert.ok(exit.stdout.includes(text), `${text} in dingo bench --help`);
    }
  });
});

describe("dingo bench on Redis", {
  timeout: 45_000,
  skip: redisAvailable ? false : `Redis is not reachable at ${redisUrl}`,
}, () => {
  it("measures round trips and deletes its queue's keys", async (t) => {
    const prefix = uniquePrefix("bench");
    const redis = new Redis(redisUrl);
    t.after(async () => {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    });
    const summary = plausibleSummary(await dingo(["bench", "-t", redisUrl, "--prefix", prefix, "--json", ...short]));
    assert.equal(summary.transport, redisUrl);
    // Only the results are left, and they expire (10 s); the queue's streams are gone.
    const left = await scanKeys(redis, prefix);
    assert.deepEqual(
      left.filter((key) => !key.startsWith(`${prefix}:{dingo.bench.v1.BenchTasks/Echo}:result:`)),
      [],
    );
    assert.ok(left.length > 0, "results were recorded");
    const ttl = await redis.pttl(left[0] as string);
    assert.ok(ttl > 0 && ttl <= 10_000, `result retention ${ttl} ms`);
  });
});

describe("dingo bench on RabbitMQ", {
  concurrency: true,
  timeout: 45_000,
  skip: rabbitAvailable ? false : `RabbitMQ is not reachable at ${amqpUrl}`,
}, () => {
  /** Whether `prefix` has a queue `name`; deletes the exchanges the run declared. */
  async function queueLeft(prefix: string, queue: string): Promise<boolean> {
    const names = amqpNames(prefix);
    const inspector = await openInspector();
    try {
      const probe = await inspector.createChannel();
      probe.on("error", () => {});
      // checkQueue closes the channel with 404 when the queue does not exist.
      const exists = await probe.checkQueue(names.taskQueue(queue)).then(
        () => true,
        () => false,
      );
      const channel = await inspector.createChannel();
      for (const exchange of [names.tasks, names.dead, names.broadcast]) await channel.deleteExchange(exchange);
      await channel.close();
      return exists;
    } finally {
      await inspector.close();
    }
  }

  it("measures round trips on RabbitMQ alone and deletes its queue", async () => {
    const prefix = uniquePrefix("bench-amqp");
    const exit = await dingo(["bench", "--json", ...short], { DINGO_TRANSPORT: amqpUrl, DINGO_PREFIX: prefix });
    const summary = plausibleSummary(exit);
    assert.match(summary.transport, /^amqp:\/\/guest:\*\*\*@/, "the password is not printed");
    assert.equal(await queueLeft(prefix, summary.queue), false);
  });

  it("measures round trips in the mixed mode (results on Redis)", {
    skip: redisAvailable ? false : `Redis is not reachable at ${redisUrl}`,
  }, async (t) => {
    const prefix = uniquePrefix("bench-mixed");
    t.after(async () => {
      await deletePrefix(prefix);
    });
    const exit = await dingo(["bench", "-t", amqpUrl, "--results", redisUrl, "--prefix", prefix, "--json", ...short]);
    const summary = plausibleSummary(exit);
    assert.match(summary.transport, /\(results: redis:\/\//);
    assert.equal(await queueLeft(prefix, summary.queue), false);
  });
});

/** The bar's "go to the start of the line and clear it", made visible. */
function redraws(output: string): string {
  return output.replaceAll("\r\x1b[2K", "<redraw>");
}

describe("the progress display", () => {
  it("on a terminal: one bar drawn in place, never once per call; plain lines otherwise", () => {
    let tty = "";
    const bar = createBenchProgress({ write: (text) => (tty += text), tty: true, columns: 100 });
    bar.begin("measuring", { calls: 10_000 });
    for (let i = 0; i < 5000; i++) bar.settled(i % 1000 === 0);
    // Redraws come from a timer, not from calls: only the first drawing so far.
    assert.equal(tty, "\r\x1b[2Kmeasuring [------------------------]   0%  0.0 s  0 calls  0 calls/s  0 errors");
    bar.note("a note");
    assert.match(
      redraws(tty),
      /<redraw>dingo bench: a note\n<redraw>measuring \[#{12}-{12}\] {2}50% {2}\d\.\d s {2}4995 calls/,
    );
    bar.end();
    assert.match(
      redraws(tty),
      /<redraw>dingo bench: measuring done: \d\.\d s {2}4995 calls {2}\d+ calls\/s {2}5 errors\n$/,
    );

    let plain = "";
    const lines = createBenchProgress({ write: (text) => (plain += text), tty: false });
    lines.begin("warm-up", { durationMs: 500 });
    lines.settled(false);
    lines.end();
    assert.match(
      plain,
      /^dingo bench: warm-up \(500 ms\)\ndingo bench: warm-up done: \d\.\d s {2}1 calls {2}\d+ calls\/s {2}0 errors\n$/,
    );
  });
});
