/**
 * Round trips measured one way for every caller: `dingo bench` and the benchmarks in
 * `bench/` run the same loop and the same quantiles, so their figures mean the same.
 */

/** Options of {@link measureRoundTrips}. Give `durationMs`, `calls`, or both. */
export interface RoundTripBenchOptions {
  /** Calls kept in flight at once (>= 1). */
  readonly inFlight: number;
  /** Start no call after this many ms; calls in flight then are awaited and counted. */
  readonly durationMs?: number | undefined;
  /** Start no more than this many calls in all. */
  readonly calls?: number | undefined;
  /** Aborting it stops starting calls; those in flight are awaited and counted. */
  readonly signal?: AbortSignal | undefined;
  /** Called as each call settles, for progress displays; keep it cheap, it is on the hot path. */
  readonly onSettled?: ((failed: boolean) => void) | undefined;
}

/** What one stretch of round trips gave. */
export interface RoundTripMeasurement {
  /** Calls that succeeded. */
  readonly calls: number;
  /** Calls that failed (rejected). */
  readonly errors: number;
  /** The first failure, when `errors > 0`. */
  readonly firstError?: unknown;
  /** From the first call's start to the last call's end, ms. */
  readonly elapsedMs: number;
  /** Successful calls per second of `elapsedMs` (0 when nothing ran). */
  readonly perSecond: number;
  /** Latency of every successful call, ms, in completion order (not sorted). */
  readonly latencies: number[];
}

/**
 * Runs `call` with `inFlight` calls at a time until `durationMs` has passed, `calls`
 * have been started or `signal` aborts, and returns the rate and every latency. A
 * failed call is counted, not thrown: the loop goes on, so that one error does not
 * hide the figures of the others; callers that want none check `errors`.
 */
export async function measureRoundTrips(
  call: () => PromiseLike<unknown>,
  options: RoundTripBenchOptions,
): Promise<RoundTripMeasurement> {
  const { inFlight, durationMs, signal, onSettled } = options;
  if (!Number.isSafeInteger(inFlight) || inFlight < 1) throw new RangeError(`inFlight must be >= 1, got ${inFlight}`);
  if (durationMs === undefined && options.calls === undefined) {
    throw new RangeError("measureRoundTrips needs durationMs or calls: it would never end");
  }
  const latencies: number[] = [];
  const limit = options.calls ?? Number.POSITIVE_INFINITY;
  let started = 0;
  let errors = 0;
  let firstError: unknown;
  const start = performance.now();
  const end = durationMs === undefined ? Number.POSITIVE_INFINITY : start + durationMs;
  const lane = async (): Promise<void> => {
    while (started < limit && performance.now() < end && signal?.aborted !== true) {
      started++;
      const callStarted = performance.now();
      try {
        await call();
      } catch (error) {
        if (errors++ === 0) firstError = error;
        onSettled?.(true);
        continue;
      }
      latencies.push(performance.now() - callStarted);
      onSettled?.(false);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const elapsedMs = performance.now() - start;
  const calls = latencies.length;
  return {
    calls,
    errors,
    ...(errors > 0 ? { firstError } : {}),
    elapsedMs,
    perSecond: elapsedMs > 0 ? calls / (elapsedMs / 1000) : 0,
    latencies,
  };
}

/** The value at quantile `q` (0..1) of sorted samples: the one below which `q` of them lie; NaN for none. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** The latency figures `dingo bench` prints, ms (NaN for no samples). */
export interface LatencySummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** The median, 99th percentile and maximum of some latencies; sorts `latencies` in place. */
export function summarizeLatencies(latencies: number[]): LatencySummary {
  latencies.sort((x, y) => x - y);
  return {
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: latencies.length === 0 ? Number.NaN : (latencies[latencies.length - 1] as number),
  };
}
