/** The cross-language suite over RabbitMQ (see cross-language-suite.ts). */
import { MathTasks } from "../../generated/example/v1/math_dingo.js";
import { createAmqpTransport } from "../../src/transport/amqp-transport.js";
import { amqpUrl, openInspector, requireRabbitMq } from "../amqp-availability.js";
import { crossLanguageSuite } from "./cross-language-suite.js";
import { requirePython } from "./python-process.js";

const skip = (await requireRabbitMq()) ? ((await requirePython()) ?? false) : `RabbitMQ is not reachable at ${amqpUrl}`;

crossLanguageSuite(
  {
    name: "RabbitMQ",
    pythonArgs: ["--transport", "amqp", "--amqp-url", amqpUrl],
    transport: (prefix) => createAmqpTransport({ url: amqpUrl, prefix }),
    deadLetters: (transport, queue) => transport.admin.deadLetters(queue),
    cleanup: deleteNamesOf,
  },
  skip,
);

/**
 * Deletes the durable queues and exchanges that callers and workers of either language
 * declare under `prefix` (WIRE.md, RabbitMQ mapping: Topology). Inboxes are deleted by
 * their callers. Deleting what does not exist is not an error in RabbitMQ.
 */
async function deleteNamesOf(prefix: string): Promise<void> {
  const queues = Object.values(MathTasks.methods).map((method) => method.taskName);
  const buckets = Array.from({ length: 32 }, (_, power) => `${prefix}.delay.${2 ** power}`);
  const connection = await openInspector();
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) {
      await channel.deleteQueue(`${prefix}.task.${queue}`);
      await channel.deleteQueue(`${prefix}.dead.${queue}`);
    }
    for (const bucket of buckets) {
      await channel.deleteQueue(bucket);
      await channel.deleteExchange(bucket);
    }
    for (const exchange of ["tasks", "dead", "broadcast"]) await channel.deleteExchange(`${prefix}.${exchange}`);
  } finally {
    await connection.close();
  }
}
