import { maxPriority } from "../task-options.js";

/** The keys of one queue (docs/WIRE.md, Redis mapping). All share the hash tag `{queue}`. */
export interface RedisQueueKeys {
  readonly queue: string;
  /** Ready streams by priority: `ready[p]` is `<prefix>:{<queue>}:ready:<p>`. */
  readonly ready: readonly string[];
  /** The ready streams from priority 9 down to 0, the order they are read in. */
  readonly readyByPriority: readonly string[];
  /** Sorted set of delayed tasks. */
  readonly delayed: string;
  /** Dead-letter stream. */
  readonly dead: string;
}

/** The consumer group of every ready stream: one name, so that workers in any language share it. */
export const consumerGroup = "dingo";

/** Builds the key names of a queue. */
export function redisQueueKeys(prefix: string, queue: string): RedisQueueKeys {
  const base = `${prefix}:{${queue}}`;
  const ready = Array.from({ length: maxPriority + 1 }, (_, priority) => `${base}:ready:${priority}`);
  return {
    queue,
    ready,
    readyByPriority: [...ready].reverse(),
    delayed: `${base}:delayed`,
    dead: `${base}:dead`,
  };
}

/** A priority as a broker stores it: an integer 0..9. */
export function clampPriority(priority: number): number {
  if (!Number.isFinite(priority)) return 0;
  return Math.min(maxPriority, Math.max(0, Math.floor(priority)));
}
