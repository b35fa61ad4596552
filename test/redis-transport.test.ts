import { test } from "node:test";
import { createRedisTransport } from "../src/transport/redis-transport.js";
import { describeConformance } from "./conformance/conformance-suite.js";
import { redisUrl, requireRedis } from "./redis-availability.js";

const available = await requireRedis();
if (available) {
  describeConformance("redis", (testId) => createRedisTransport({ url: redisUrl, prefix: `dingo-test-${testId}` }));
} else {
  test("conformance: redis", { skip: `Redis is not reachable at ${redisUrl}` }, () => {});
}
