import { createRedisTransport } from "../../src/transport/redis-transport.js";
import { deletePrefix, redisUrl, requireRedis } from "../redis-availability.js";
import { crossLanguageSuite } from "./cross-language-suite.js";
import { requirePython } from "./python-process.js";

const skip = (await requireRedis()) ? ((await requirePython()) ?? false) : `Redis is not reachable at ${redisUrl}`;

crossLanguageSuite(
  {
    name: "Redis",
    pythonArgs: ["--transport", "redis", "--redis-url", redisUrl],
    // A short lease, so that a killed worker's task is reclaimed within a second.
    transport: (prefix, fastReclaim = false) =>
      createRedisTransport({ url: redisUrl, prefix, ...(fastReclaim ? { leaseMs: 500, reclaimIntervalMs: 100 } : {}) }),
    deadLetters: (transport, queue) => transport.admin.deadLetters(queue),
    async cleanup(prefix) {
      await deletePrefix(prefix);
    },
  },
  skip,
);
