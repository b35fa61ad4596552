import { after, before, test } from "node:test";
import type { ChannelModel } from "amqplib";
import { Redis } from "ioredis";
import { createAmqpTransport } from "../src/transport/amqp-transport.js";
import { createRedisTransport } from "../src/transport/redis-transport.js";
import type { Transport } from "../src/transport/transport.js";
import { amqpUrl, deleteTopology, openInspector, requireRabbitMq } from "./amqp-availability.js";
import { describeConformance } from "./conformance/conformance-suite.js";
import { deleteKeys, redisUrl, requireRedis } from "./redis-availability.js";

const rabbit = await requireRabbitMq();
const redis = rabbit && (await requireRedis());

let inspector: ChannelModel;
if (rabbit) {
  before(async () => {
    inspector = await openInspector();
  });
  after(() => inspector.close());
}

/** The transport, whose close() also deletes what the test declared. */
function cleaned(transport: Transport, cleanup: () => Promise<void> = async () => {}): Transport {
  return {
    ...transport,
    close: () =>
      transport
        .close()
        .then(() => deleteTopology(inspector, transport))
        .then(cleanup),
  };
}

if (rabbit) {
  describeConformance("amqp", (testId) =>
    cleaned(createAmqpTransport({ url: amqpUrl, prefix: `dingo-test-${testId}` })),
  );
} else {
  test("conformance: amqp", { skip: `RabbitMQ is not reachable at ${amqpUrl}` }, () => {});
}

if (redis) {
  const cleaner = new Redis(redisUrl);
  after(() => cleaner.disconnect());
  describeConformance("amqp+redis results", (testId) => {
    const prefix = `dingo-test-${testId}`;
    // Tasks on RabbitMQ; reports and results on Redis, as in Celery or the Go original.
    const results = createRedisTransport({ url: redisUrl, prefix });
    const transport = createAmqpTransport({
      url: amqpUrl,
      prefix,
      reports: results.reports,
      results: results.results,
    });
    return cleaned(transport, () => results.close().then(() => deleteKeys(cleaner, prefix)));
  });
} else {
  const missing = rabbit ? `Redis is not reachable at ${redisUrl}` : `RabbitMQ is not reachable at ${amqpUrl}`;
  test("conformance: amqp+redis results", { skip: missing }, () => {});
}
