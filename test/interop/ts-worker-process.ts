/**
 * A TypeScript worker in a process of its own, for the cross-language suite's kill tests.
 * Run with `node --import tsx test/interop/ts-worker-process.ts --transport redis|amqp --prefix P`.
 *
 * It serves example.v1.MathTasks with the interop handlers, except that `add` says
 * `start <task id>` and then takes `--work-ms` (so that it can be killed or cancelled mid-task), and
 * prints the lines of test/fixtures/worker-process-main.ts (`ready <worker id>`, …) and
 * `aborted <task id> <code>` when the handler's signal fires (`cancelled` on cancellation).
 */
import { setTimeout as delay } from "node:timers/promises";
import { parseArgs } from "node:util";
import { MathTasks } from "../../generated/example/v1/math_dingo.js";
import { createWorker, TaskError } from "../../src/index.js";
import { createAmqpTransport } from "../../src/transport/amqp-transport.js";
import { createRedisTransport } from "../../src/transport/redis-transport.js";
import { readyUntilStopped, say, sayEvents } from "../fixtures/worker-process-main.js";
import { interopHandlers } from "./interop-handlers.js";

const { values } = parseArgs({
  options: {
    transport: { type: "string", default: "redis" },
    prefix: { type: "string" },
    "work-ms": { type: "string", default: "0" },
    "redis-url": { type: "string", default: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" },
    "amqp-url": { type: "string", default: process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672" },
  },
});
if (values.prefix === undefined) throw new Error("--prefix is required");

const transport =
  values.transport === "amqp"
    ? createAmqpTransport({ url: values["amqp-url"], prefix: values.prefix })
    : createRedisTransport({ url: values["redis-url"], prefix: values.prefix });
const worker = createWorker(transport);
sayEvents(worker);
const workMs = Number(values["work-ms"]);
await worker.serve(MathTasks, {
  ...interopHandlers,
  async add(request, context) {
    say(`start ${context.taskId}`);
    context.signal.addEventListener("abort", () =>
      say(`aborted ${context.taskId} ${TaskError.from(context.signal.reason).code}`),
    );
    await delay(workMs, undefined, { signal: context.signal });
    return interopHandlers.add(request, context);
  },
});
readyUntilStopped(worker, () => transport.close());
