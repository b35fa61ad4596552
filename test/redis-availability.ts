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

/** Deletes every key under `prefix` (tests' queues leave streams without expiry behind). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
}
