/** Small measuring helpers shared by the benchmarks. */
import { quantile } from "../src/round-trip-bench.js";

/** The quantiles of `dingo bench`, so that the figures of both mean the same. */
export { quantile };

/** The median of some numbers. */
export function median(values: readonly number[]): number {
  return quantile(
    [...values].sort((x, y) => x - y),
    0.5,
  );
}

/** Runs `operation` repeatedly for about `ms` milliseconds (after a warm-up) and returns operations per second. */
export function rate(operation: () => void, ms = 1000): number {
  const deadline = performance.now() + ms / 5;
  while (performance.now() < deadline) operation();
  let count = 0;
  const started = performance.now();
  const end = started + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) operation();
    count += 100;
  }
  return count / ((performance.now() - started) / 1000);
}

/** One figure, printed as `name: value unit` for scripts. */
export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
}

/** Prints a table of figures, then one `name: value unit` line each. */
export function report(title: string, figures: readonly Figure[], notes: readonly string[] = []): void {
  console.log(`\n${title}`);
  const width = Math.max(...figures.map((figure) => figure.name.length));
  for (const figure of figures)
    console.log(`  ${figure.name.padEnd(width)}  ${format(figure.value).padStart(12)} ${figure.unit}`);
  for (const note of notes) console.log(`  ${note}`);
  console.log("");
  for (const figure of figures) console.log(`${figure.name}: ${format(figure.value)} ${figure.unit}`);
}

function format(value: number): string {
  return value >= 100 ? Math.round(value).toString() : value.toFixed(3);
}
