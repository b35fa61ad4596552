import { Command, Option } from "commander";
import type { MethodDefinition, ServiceDefinition } from "../service-definition.js";
import { createWorker, type Worker } from "../worker.js";
import type { ServiceEntry } from "../worker-module.js";
import { CliError } from "./cli-error.js";
import { integerOption } from "./integer-option.js";
import { loadWorkerModule } from "./load-worker-module.js";
import { type MetricsServer, serveMetrics } from "./metrics-server.js";
import { queueList } from "./queue-list.js";
import { type OpenedTransport, transportFromUrl, transportKind } from "./transport-from-url.js";
import { addTransportOptions, requireTransportUrl, type TransportFlags } from "./transport-options.js";
import { createWorkerLog, errorText, type LogFormat, type WorkerLog } from "./worker-log.js";

interface WorkerFlags extends TransportFlags {
  readonly concurrency: number;
  readonly queues?: string;
  readonly shutdownTimeout?: number;
  readonly logFormat: LogFormat;
  readonly metricsPort?: number;
}

/** Exit code of a shutdown that left running tasks for redelivery (sysexits' EX_TEMPFAIL). */
export const forcedShutdownExitCode = 75;

/**
 * `dingo worker <module>`: serves the services a worker module lists on the transport
 * its flags name, logging one line per event, until SIGTERM or SIGINT drains it.
 */
export function createWorkerCommand(): Command {
  const command = new Command("worker")
    .summary("serve the tasks of a worker module")
    .description(
      "Load <module> (a .ts or .js file whose default export is\n" +
        "`defineWorkerModule({ services: [[MathTasks, handlers], …] })`), connect to the\n" +
        "transport and serve every method of the listed services (only those on --queues,\n" +
        "if given). Logs one line per event (ready, task-received, task-succeeded,\n" +
        "task-failed, task-retried, task-dead-lettered, stopping, stopped) on stdout.\n\n" +
        "SIGTERM or SIGINT stops taking tasks, lets running handlers finish, and exits 0.\n" +
        "A second signal exits at once, and --shutdown-timeout bounds the wait: tasks\n" +
        `still running are left for redelivery, and the exit code is ${forcedShutdownExitCode}.`,
    )
    .argument("<module>", "worker module: a file whose default export is defineWorkerModule({ … })");
  addTransportOptions(command)
    .option("-c, --concurrency <n>", "most handlers running at once", integerOption(1), 16)
    .option("-q, --queues <names>", "serve only the methods on these queues (comma-separated)")
    .option(
      "--shutdown-timeout <ms>",
      "on SIGTERM/SIGINT, wait at most this long for running handlers (default: as long as they take)",
      integerOption(0),
    )
    .addOption(
      new Option("--log-format <format>", "log lines for people (text) or for collectors (json)")
        .choices(["text", "json"])
        .default("text"),
    )
    .option(
      "--metrics-port <port>",
      "serve Prometheus metrics on http://127.0.0.1:<port>/metrics (0: any free port, logged)",
      integerOption(0, 65535),
    )
    .addHelpText(
      "after",
      "\nExit codes: 0 drained and stopped, 1 could not start (bad module, broker unreachable, …),\n" +
        `${forcedShutdownExitCode} shutdown forced with tasks left for redelivery.\n\n` +
        "Examples:\n" +
        "  $ dingo worker workers/math.ts --transport redis://127.0.0.1:6379\n" +
        "  $ DINGO_TRANSPORT=amqp://guest:guest@127.0.0.1:5672 dingo worker workers/math.ts -c 32\n" +
        "  $ dingo worker workers/math.ts -t amqp://127.0.0.1 --results redis://127.0.0.1:6379\n" +
        "  $ dingo worker workers/math.ts -t redis://127.0.0.1:6379 --queues math --log-format json\n" +
        "  $ dingo worker workers/math.ts -t redis://127.0.0.1:6379 --metrics-port 9464",
    )
    .action(async (modulePath: string, flags: WorkerFlags) => {
      await runWorker(modulePath, flags);
    });
  return command;
}

async function runWorker(modulePath: string, flags: WorkerFlags): Promise<void> {
  const url = requireTransportUrl(flags);
  transportKind(url);
  const log = createWorkerLog(flags.logFormat, (line) => process.stdout.write(line));
  const module = await loadWorkerModule(modulePath);
  const services = selectQueues(module.services, flags.queues);
  const opened = await transportFromUrl({ url, results: flags.results, prefix: flags.prefix });
  const worker = createWorker(opened.transport, { concurrency: flags.concurrency });
  worker.events.subscribe(log.event);
  let metrics: MetricsServer | undefined;
  try {
    if (flags.metricsPort !== undefined) {
      const served = { admin: opened.transport.admin, queues: queuesOf(services) };
      metrics = await serveMetrics(worker, flags.metricsPort, served);
    }
    for (const [service, handlers] of services) await worker.serve(service, handlers);
  } catch (error) {
    await metrics?.close().catch(() => {});
    await worker.close().catch(() => {});
    await opened.close().catch(() => {});
    throw error instanceof CliError ? error : new CliError(`cannot start the worker: ${errorText(error)}`);
  }
  // Signal listeners do not keep Node running, and the memory transport holds no socket:
  // without this, Node would end the process with an unsettled-await exit code.
  const keepAlive = setInterval(() => {}, 2 ** 30);
  // Listening before saying ready: whoever waits for the line may signal at once.
  const stopped = nextSignal(log);
  if (opened.kind === "memory") {
    log.write("warn", "memory-transport", { note: "only this process can call these tasks" });
  }
  log.write("info", "ready", {
    worker: worker.id,
    transport: opened.description,
    queues: queuesOf(services).join(","),
    concurrency: flags.concurrency,
    metrics: metrics?.url,
    pid: process.pid,
  });
  try {
    const signal = await stopped;
    await shutDown(worker, opened, module.close, metrics, flags, log, signal);
  } finally {
    clearInterval(keepAlive);
  }
}

/** Resolves on the first SIGTERM or SIGINT; a second one exits at once. */
function nextSignal(log: WorkerLog): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (received === undefined) {
        received = signal;
        resolve(signal);
        return;
      }
      // Running tasks are not acknowledged: RabbitMQ redelivers them when the connection
      // drops, Redis when their lease runs out.
      log.write("warn", "stopped", { signal, forced: true, note: "running tasks are left for redelivery" });
      process.exit(forcedShutdownExitCode);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

async function shutDown(
  worker: Worker,
  opened: OpenedTransport,
  closeModule: (() => Promise<void> | void) | undefined,
  metrics: MetricsServer | undefined,
  flags: WorkerFlags,
  log: WorkerLog,
  signal: NodeJS.Signals,
): Promise<void> {
  log.write("info", "stopping", { signal, shutdown_timeout_ms: flags.shutdownTimeout });
  const started = performance.now();
  let forced = false;
  const timer =
    flags.shutdownTimeout === undefined
      ? undefined
      : setTimeout(() => {
          forced = true;
        }, flags.shutdownTimeout);
  const errors: unknown[] = [];
  await worker.close({ timeoutMs: flags.shutdownTimeout }).catch((error: unknown) => errors.push(error));
  clearTimeout(timer);
  if (closeModule !== undefined) await Promise.resolve(closeModule()).catch((error: unknown) => errors.push(error));
  await opened.close().catch((error: unknown) => errors.push(error));
  // Last: the drain is worth scraping.
  await metrics?.close().catch((error: unknown) => errors.push(error));
  log.write(errors.length > 0 ? "error" : "info", "stopped", {
    duration_ms: Math.round(performance.now() - started),
    forced,
    error: errors.length > 0 ? errors.map(errorText).join("; ") : undefined,
  });
  if (forced) {
    throw new CliError(
      `shutdown forced after ${flags.shutdownTimeout} ms: running tasks were given back for redelivery`,
      forcedShutdownExitCode,
    );
  }
  if (errors.length > 0) throw new CliError(`shutdown failed: ${errors.map(errorText).join("; ")}`);
}

/** The queue a method's tasks go to, as the runtime resolves it. */
function queueOf(service: ServiceDefinition, method: MethodDefinition<unknown, unknown>): string {
  return method.options.queue || service.defaults.queue || method.taskName;
}

function queuesOf(services: readonly ServiceEntry[]): string[] {
  const queues = new Set<string>();
  for (const [service] of services)
    for (const method of Object.values(service.methods)) queues.add(queueOf(service, method));
  return [...queues];
}

/** The services limited to the methods on `queues` (comma-separated); all of them without it. */
function selectQueues(services: readonly ServiceEntry[], queues: string | undefined): readonly ServiceEntry[] {
  if (queues === undefined) return services;
  const wanted = new Set(queueList(queues));
  const available = queuesOf(services);
  const missing = [...wanted].filter((queue) => !available.includes(queue));
  if (missing.length > 0) {
    throw new CliError(
      `--queues: no task of the module is on ${missing.join(", ")} (its queues: ${available.join(", ")})`,
    );
  }
  const selected: ServiceEntry[] = [];
  for (const [service, handlers] of services) {
    const methods = Object.entries(service.methods).filter(([, method]) => wanted.has(queueOf(service, method)));
    if (methods.length === 0) continue;
    // The worker serves the methods of the definition it is given; extra handlers are ignored.
    selected.push([{ ...service, methods: Object.fromEntries(methods) }, handlers]);
  }
  return selected;
}
