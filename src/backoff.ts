import type { RetryPolicy } from "../generated/dingo/v1/envelope_pb.js";

/**
 * The wait before the attempt after `attempt` (1-based), as docs/WIRE.md defines it:
 * `min(max, initial * multiplier^(attempt-1))`, reduced by a random fraction of up to
 * `jitter` of itself. `random` is injectable for tests.
 */
export function backoffMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const multiplier = policy.multiplier > 0 ? policy.multiplier : 2;
  const grown = policy.initialBackoffMs * multiplier ** Math.max(0, attempt - 1);
  const capped = policy.maxBackoffMs > 0 ? Math.min(policy.maxBackoffMs, grown) : grown;
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  return Math.round(capped * (1 - jitter * random()));
}
