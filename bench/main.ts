/**
 * `npm run bench [-- <suite>…]`: benchmarks, not tests. Suites: memory, codec (default: both).
 * Prints a table, then one `name: value unit` line per figure.
 *
 * The script bundles this file with esbuild and runs it with plain node: the library is
 * measured as users run it, compiled, not through tsx's on-the-fly transform (which adds
 * wrappers to every function and measured up to twice slower on the hot path).
 */
import { codecBench } from "./codec-bench.js";
import { report } from "./measure.js";
import { memoryBench } from "./memory-bench.js";

const suites: Record<string, () => Promise<void>> = {
  memory: async () => report("Memory transport round trips (worker and client in one process)", await memoryBench()),
  codec: async () =>
    report("Task envelope encode+decode (same message, same run)", await codecBench(), [
      "baselines: protobufjs reflection codec (protobufjs.load of envelope.proto) and JSON.stringify+parse",
    ]),
};

const chosen = process.argv.slice(2);
for (const name of chosen.length > 0 ? chosen : Object.keys(suites)) {
  const suite = suites[name];
  if (suite === undefined) {
    console.error(`unknown benchmark "${name}" (known: ${Object.keys(suites).join(", ")})`);
    process.exit(2);
  }
  await suite();
}
