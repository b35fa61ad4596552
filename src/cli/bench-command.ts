import { Command, Option } from "commander";
import { createClient } from "../client.js";
import { randomUuid } from "../random-uuid.js";
import { measureRoundTrips, type RoundTripMeasurement, summarizeLatencies } from "../round-trip-bench.js";
import { createWorker } from "../worker.js";
import { type BenchGoal, type BenchProgress, createBenchProgress } from "./bench-progress.js";
import { benchService } from "./bench-service.js";
import { CliError } from "./cli-error.js";
import { type BenchQueue, deleteBenchQueue } from "./delete-bench-queue.js";
import { integerOption } from "./integer-option.js";
import { type OpenedTransport, transportFromUrl } from "./transport-from-url.js";
import { addTransportOptions, type TransportFlags } from "./transport-options.js";
import { errorText } from "./worker-log.js";

interface BenchFlags extends TransportFlags {
  readonly concurrency: number;
  readonly duration?: number;
  readonly calls?: number;
  readonly payload: number;
  readonly warmup: number;
  readonly timeout: number;
  readonly json?: boolean;
}

/** Measured for this long when neither `--duration` nor `--calls` is given, ms. */
const defaultDurationMs = 5000;
/** Largest `--payload`: far below the client's 4 MiB request limit, and a bench of large messages measures bandwidth. */
const maxPayloadBytes = 1024 * 1024;

/** The figures `dingo bench` prints; `--json` prints this object. Latencies in ms, NaN as null. */
export interface BenchSummary {
  readonly transport: string;
  readonly queue: string;
  readonly concurrency: number;
  readonly payload_bytes: number;
  /** Length of the measured stretch (warm-up excluded), ms. */
  readonly duration_ms: number;
  /** Calls that succeeded. */
  readonly calls: number;
  readonly calls_per_second: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  readonly errors: number;
  /** SIGINT or SIGTERM stopped the run early. */
  readonly interrupted: boolean;
}

/**
 * `dingo bench`: round trips of a built-in echo task through a transport, with a worker
 * and a client in this process, on a queue of the run's own; prints calls, throughput and
 * latency quantiles.
 */
export function createBenchCommand(): Command {
  const command = new Command("bench")
    .summary("measure round trips (calls/s, latency) through a transport")
    .description(
      "Start a worker and a client in this process on the transport, serving a\n" +
        "built-in echo task (dingo.bench.v1.BenchTasks/Echo) on a queue of this run\n" +
        "only (dingo-bench-<uuid>, deleted at the end). Warm up, then keep --concurrency\n" +
        "calls in flight for --duration ms (or until --calls calls) and print a summary:\n" +
        "successful calls, throughput, p50, p99 and max latency, failed calls.\n\n" +
        "Without --transport or DINGO_TRANSPORT it measures the memory transport.\n" +
        "Progress goes to stderr: a bar on a terminal, plain lines otherwise. SIGINT\n" +
        "(Ctrl-C) stops early and still prints the summary; a second one quits at once.",
    );
  addTransportOptions(command)
    .option(
      "-c, --concurrency <n>",
      "calls in flight at once (and handlers the worker runs at once)",
      integerOption(1),
      64,
    )
    .addOption(
      new Option("-d, --duration <ms>", `how long to measure, after the warm-up (default: ${defaultDurationMs})`)
        .argParser(integerOption(1))
        .conflicts("calls"),
    )
    .addOption(
      new Option("-n, --calls <n>", "measure this many calls instead of a duration").argParser(integerOption(1)),
    )
    .option(
      "--payload <bytes>",
      `size of each request and response payload (0..${maxPayloadBytes})`,
      integerOption(0, maxPayloadBytes),
      0,
    )
    .option("--warmup <ms>", "calls made before measuring, not counted (0: none)", integerOption(0), 500)
    .option("--timeout <ms>", "a call not answered within this counts as an error", integerOption(1), 10_000)
    .option("--json", "print the summary as one JSON object (calls_per_second, p50_ms, …) on stdout")
    .addHelpText(
      "after",
      "\nExit codes: 0 every measured call succeeded (also when interrupted), 1 a call\n" +
        "failed, the broker is unreachable, or a usage error.\n\n" +
        "Examples:\n" +
        "  $ dingo bench\n" +
        "  $ dingo bench --transport redis://127.0.0.1:6379 --concurrency 256 --duration 10000\n" +
        "  $ dingo bench -t amqp://guest:guest@127.0.0.1:5672 --results redis://127.0.0.1:6379 --calls 50000\n" +
        "  $ dingo bench -t redis://127.0.0.1:6379 --payload 4096 --json",
    )
    .action(async (flags: BenchFlags) => {
      await runBench(flags);
    });
  return command;
}

async function runBench(flags: BenchFlags): Promise<void> {
  const url = flags.transport === undefined || flags.transport === "" ? "memory:" : flags.transport;
  const goal: BenchGoal =
    flags.calls === undefined ? { durationMs: flags.duration ?? defaultDurationMs } : { calls: flags.calls };
  const progress = createBenchProgress({
    write: (text) => process.stderr.write(text),
    tty: process.stderr.isTTY === true,
    columns: process.stderr.columns,
  });
  const opened = await transportFromUrl({ url, results: flags.results, prefix: flags.prefix });
  const queue = `dingo-bench-${randomUuid()}`;
  const service = benchService(queue);
  const worker = createWorker(opened.transport, { concurrency: flags.concurrency });
  const stop = interruption(progress);
  let measured: RoundTripMeasurement | undefined;
  let cleanUpError: CliError | undefined;
  try {
    await worker.serve(service, { echo: ({ payload }) => ({ payload }) });
    const client = createClient(service, opened.transport);
    const request = { payload: new Uint8Array(flags.payload).fill(0x2a) };
    const call = async (): Promise<void> => {
      const response = await client.echo(request, { timeoutMs: flags.timeout });
      if (response.payload.length !== flags.payload) {
        throw new Error(`the echo came back with ${response.payload.length} bytes instead of ${flags.payload}`);
      }
    };
    const run = (durationMs: number | undefined, calls?: number) =>
      measureRoundTrips(call, {
        inFlight: flags.concurrency,
        durationMs,
        calls,
        signal: stop.signal,
        onSettled: progress.settled,
      });
    progress.note(
      `${opened.description}, queue ${queue}, ${flags.concurrency} in flight, ${flags.payload}-byte payloads`,
    );
    if (flags.warmup > 0) {
      progress.begin("warm-up", { durationMs: flags.warmup });
      const warmup = await run(flags.warmup);
      progress.end();
      if (warmup.calls === 0 && warmup.errors > 0) {
        throw new CliError(`every warm-up call failed; the first: ${errorText(warmup.firstError)}`);
      }
    }
    progress.begin("measuring", goal);
    measured = await run(goal.durationMs, goal.calls);
    progress.end();
  } finally {
    stop.dispose();
    // A failure of the run wins over one of the clean-up, which it often causes.
    cleanUpError = await cleanUp(opened, worker.close(), { kind: opened.kind, url, prefix: flags.prefix, queue });
  }
  if (cleanUpError !== undefined) throw cleanUpError;
  const summary = summarize(measured, {
    transport: opened.description,
    queue,
    concurrency: flags.concurrency,
    payload: flags.payload,
    interrupted: stop.signal.aborted,
  });
  process.stdout.write(flags.json === true ? `${JSON.stringify(summary)}\n` : table(summary));
  if (measured.errors > 0) {
    throw new CliError(
      `${measured.errors} of ${measured.errors + measured.calls} calls failed; the first: ${errorText(measured.firstError)}`,
    );
  }
}

/** SIGINT/SIGTERM: the first stops the run (the summary is still printed), the second quits. */
function interruption(progress: BenchProgress): { readonly signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130);
    progress.note(`${signal}: finishing the calls in flight (again to quit at once)`);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/**
 * Closes the worker, deletes the run's queue, closes the transport: every step, even if
 * one fails; resolves to what failed, if anything.
 */
async function cleanUp(
  opened: OpenedTransport,
  workerClosed: Promise<void>,
  where: BenchQueue,
): Promise<CliError | undefined> {
  const errors: unknown[] = [];
  await workerClosed.catch((error: unknown) => errors.push(error));
  await deleteBenchQueue(where).catch((error: unknown) => errors.push(error));
  await opened.close().catch((error: unknown) => errors.push(error));
  return errors.length > 0 ? new CliError(`cleaning up failed: ${errors.map(errorText).join("; ")}`) : undefined;
}

function summarize(
  measured: RoundTripMeasurement,
  run: { transport: string; queue: string; concurrency: number; payload: number; interrupted: boolean },
): BenchSummary {
  const latency = summarizeLatencies(measured.latencies);
  return {
    transport: run.transport,
    queue: run.queue,
    concurrency: run.concurrency,
    payload_bytes: run.payload,
    duration_ms: round(measured.elapsedMs),
    calls: measured.calls,
    calls_per_second: round(measured.perSecond),
    p50_ms: round(latency.p50),
    p99_ms: round(latency.p99),
    max_ms: round(latency.max),
    errors: measured.errors,
    interrupted: run.interrupted,
  };
}

/** Three decimals: µs resolution is all a timer on a shared machine gives. */
function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The summary as a small table for people. */
function table(summary: BenchSummary): string {
  const ms = (value: number): string => (Number.isNaN(value) ? "-" : value.toFixed(3));
  const columns: [string, string][] = [
    ["calls", String(summary.calls)],
    ["calls/s", summary.calls_per_second.toFixed(0)],
    ["p50 ms", ms(summary.p50_ms)],
    ["p99 ms", ms(summary.p99_ms)],
    ["max ms", ms(summary.max_ms)],
    ["errors", String(summary.errors)],
  ];
  const widths = columns.map(([head, value]) => Math.max(head.length, value.length));
  const row = (cells: string[]): string => `  ${cells.map((cell, i) => cell.padStart(widths[i] ?? 0)).join("  ")}\n`;
  const heading =
    `dingo bench on ${summary.transport}, ${summary.concurrency} in flight, ${summary.payload_bytes}-byte payloads, ` +
    `${(summary.duration_ms / 1000).toFixed(2)} s measured${summary.interrupted ? " (interrupted)" : ""}\n`;
  return heading + row(columns.map(([head]) => head)) + row(columns.map(([, value]) => value));
}
