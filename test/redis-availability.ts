import { Redis } from "ioredis";

/** The Redis the tests run against. */
export const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/**
 * Whether Redis answers at {@link redisUrl}. Without it the Redis tests are skipped with
 * a message, except on CI (`CI=true`), where a missing Redis is a failure, not a skip.
 */
export async function requireRedis(): Promise<boolean> {
  const probe = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on("error", () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch (error) {
    if (process.env.CI === "true") {
      throw new Error(`Redis is not reachable at ${redisUrl}, and CI=true requires it`, { cause: error });
    }
    return false;
  } finally {
    probe.disconnect();
  }
}

/** Every key under `prefix`. */
export async function scanKeys(redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    found.push(...batch);
  } while (cursor !== "0");
  return found;
}

/** Deletes every key under `prefix` (tests' queues leave streams without expiry behind). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  const keys = await scanKeys(redis, prefix);
  if (keys.length > 0) await redis.del(...keys);
}

/** Deletes every key under `prefix` on a connection of its own (for test cleanups). */
export async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    await deleteKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}
