/**
 * `npm run bench [-- <suite>…]`: benchmarks, not tests. Suites: memory, codec, redis, amqp
 * (default: memory and codec; redis needs a server at REDIS_URL and takes about a minute;
 * amqp needs RabbitMQ at AMQP_URL, and Redis at REDIS_URL for its mixed-mode line, and
 * takes about a minute).
 * Prints a table, then one `name: value unit` line per figure.
 *
 * The script bundles this file with esbuild and runs it with plain node: the library is
 * measured as users run it, compiled, not through tsx's on-the-fly transform (which adds
 * wrappers to every function and measured up to twice slower on the hot path).
 */
import { report } from "./measure.js";

/**
 * Each suite is imported only when it runs (the bundle is split per suite): loading
 * ioredis, BullMQ and amqplib made the memory round trips measure ~20% slower in the same
 * process (a larger heap to collect), though the memory suite never touches them.
 */
const suites: Record<string, () => Promise<void>> = {
  memory: async () => {
    const { memoryBench } = await import("./memory-bench.js");
    report("Memory transport round trips (worker and client in one process)", await memoryBench());
  },
  codec: async () => {
    const { codecBench } = await import("./codec-bench.js");
    report("Task envelope encode+decode (same message, same run)", await codecBench(), [
      "baselines: protobufjs reflection codec (protobufjs.load of envelope.proto) and JSON.stringify+parse",
    ]);
  },
  redis: async () => {
    const { redisBench } = await import("./redis-bench.js");
    const { figures, notes } = await redisBench();
    report("Redis round trips: dingo vs raw ioredis lists vs BullMQ (same server, same run)", figures, notes);
  },
  amqp: async () => {
    const { amqpBench } = await import("./amqp-bench.js");
    const { figures, notes } = await amqpBench();
    report("RabbitMQ round trips: dingo vs raw amqplib request/reply (same broker, same run)", figures, notes);
  },
};

/** Suites run when none is named: those that need no server. */
const defaults = ["memory", "codec"];

const chosen = process.argv.slice(2);
for (const name of chosen.length > 0 ? chosen : defaults) {
  const suite = suites[name];
  if (suite === undefined) {
    console.error(`unknown benchmark "${name}" (known: ${Object.keys(suites).join(", ")})`);
    process.exit(2);
  }
  await suite();
}
