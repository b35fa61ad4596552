/**
 * `npm run demo`: a worker and a client in one process on the embedded memory
 * transport, calling the example MathTasks service (proto/example/v1/math.proto).
 */
import { MathTasks } from "../generated/example/v1/math_dingo.js";
import { createClient, createMemoryTransport, createWorker, TaskError, type TaskReport } from "../src/index.js";
import { mathHandlers } from "./math-handlers.js";

const transport = createMemoryTransport();
const worker = createWorker(transport, { concurrency: 4 });
await worker.serve(MathTasks, mathHandlers);
const math = createClient(MathTasks, transport);

function describe(report: TaskReport<unknown>): string {
  switch (report.status) {
    case "progress":
      return `progress ${report.progress.percent?.toFixed(0)}% (${report.progress.message})`;
    case "success":
      return `success ${JSON.stringify(report.response)}`;
    case "retry":
    case "failure":
    case "cancelled":
      return `${report.status} ${report.error.code}: ${report.error.rawMessage}`;
    default:
      return `${report.status}${report.workerId ? ` by ${report.workerId}` : ""}`;
  }
}

console.log("— add: the typed result");
const { sum } = await math.add({ a: 40, b: 2 });
console.log(`  40 + 2 = ${sum}`);

console.log("— countPrimes: reports as they arrive");
const count = math.countPrimes({ limit: 200_000 }, { reports: "all" });
console.log(`  task id ${count.id}`);
for await (const report of count.reports()) console.log(`  ${describe(report)}`);
const primes = await count;
console.log(`  ${primes.count} primes below 200000, the largest ${primes.largest}`);

console.log("— divide by zero: a typed error");
try {
  await math.divide({ dividend: 1, divisor: 0 });
} catch (error) {
  if (!(error instanceof TaskError)) throw error;
  console.log(`  ${error.code}: ${error.rawMessage} (retryable: ${error.retryable})`);
}

console.log("— 1,000 concurrent calls");
const started = performance.now();
const sums = await Promise.all(Array.from({ length: 1000 }, (_, a) => math.add({ a, b: 1 })));
console.log(
  `  ${sums.length} results in ${(performance.now() - started).toFixed(0)} ms, all correct: ${sums.every((r, a) => r.sum === a + 1)}`,
);

await worker.close();
await transport.close();
