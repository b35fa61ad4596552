import { after, test } from "node:test";
import { Redis } from "ioredis";
import { createRedisTransport } from "../src/transport/redis-transport.js";
import { describeConformance } from "./conformance/conformance-suite.js";
import { deleteKeys, redisUrl, requireRedis } from "./redis-availability.js";

const available = await requireRedis();
if (available) {
  const cleaner = new Redis(redisUrl);
  after(() => cleaner.disconnect());
  describeConformance("redis", (testId) => {
    const prefix = `dingo-test-${testId}`;
    const transport = createRedisTransport({ url: redisUrl, prefix });
    // The same transport, whose close() also deletes the test's keys afterwards.
    return {
      ...transport,
      close: () => transport.close().then(() => deleteKeys(cleaner, prefix)),
    };
  });
} else {
  test("conformance: redis", { skip: `Redis is not reachable at ${redisUrl}` }, () => {});
}
