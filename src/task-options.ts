/**
 * How a task behaves: where it is queued, how often and how patiently it is retried,
 * how long one attempt may take. Mirrors `dingo.v1.TaskOptions` in
 * `proto/dingo/v1/options.proto`.
 *
 * Three layers set them, each field falling through when unset: the service's
 * `(dingo.v1.defaults)`, the method's `(dingo.v1.task)`, and the call.
 */
export interface TaskOptions {
  /** Queue the task is published to. Default: the full task name. */
  readonly queue?: string;
  /** Total attempts including the first (>= 1). Default: 1. */
  readonly maxAttempts?: number;
  /** Wait before the second attempt, ms. Default: 1000. */
  readonly initialBackoffMs?: number;
  /** Growth factor of the wait per attempt (>= 1). Default: 2. */
  readonly backoffMultiplier?: number;
  /** Upper bound of one wait, ms. Default: 60000. */
  readonly maxBackoffMs?: number;
  /** Random reduction of each wait, a fraction 0..1. Default: 0. */
  readonly backoffJitter?: number;
  /** Limit for one attempt, ms. Default: none. */
  readonly timeoutMs?: number;
  /** Priority 0..9, higher first among queued tasks. Default: 0. */
  readonly priority?: number;
  /** How long the final outcome is kept for lookup, ms. Default: the transport's retention. */
  readonly resultTtlMs?: number;
}

/** {@link TaskOptions} with every default applied. */
export interface ResolvedTaskOptions {
  readonly queue: string;
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly backoffMultiplier: number;
  readonly maxBackoffMs: number;
  readonly backoffJitter: number;
  /** 0: no limit. */
  readonly timeoutMs: number;
  readonly priority: number;
  /** 0: the transport's default retention. */
  readonly resultTtlMs: number;
}

/** Highest priority a task can have; larger values are clamped to it. */
export const maxPriority = 9;

/**
 * Merges option layers, later layers winning field by field, and applies defaults.
 * `taskName` names the default queue.
 */
export function resolveTaskOptions(taskName: string, ...layers: (TaskOptions | undefined)[]): ResolvedTaskOptions {
  const merged: { -readonly [K in keyof TaskOptions]: TaskOptions[K] } = {};
  for (const layer of layers) {
    if (layer === undefined) continue;
    for (const key of Object.keys(layer) as (keyof TaskOptions)[]) {
      const value = layer[key];
      // Zero and "" mean "unset" in proto3, so they fall through like undefined.
      if (value !== undefined && value !== 0 && value !== "") (merged as Record<string, unknown>)[key] = value;
    }
  }
  return {
    queue: merged.queue ?? taskName,
    maxAttempts: Math.max(1, Math.floor(merged.maxAttempts ?? 1)),
    initialBackoffMs: merged.initialBackoffMs ?? 1000,
    backoffMultiplier: Math.max(1, merged.backoffMultiplier ?? 2),
    maxBackoffMs: merged.maxBackoffMs ?? 60_000,
    backoffJitter: Math.min(1, Math.max(0, merged.backoffJitter ?? 0)),
    timeoutMs: merged.timeoutMs ?? 0,
    priority: Math.min(maxPriority, Math.max(0, Math.floor(merged.priority ?? 0))),
    resultTtlMs: merged.resultTtlMs ?? 0,
  };
}
