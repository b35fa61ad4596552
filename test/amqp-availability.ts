import { type ChannelModel, connect } from "amqplib";
import { AmqpTaskBroker } from "../src/transport/amqp-task-broker.js";
import type { Transport } from "../src/transport/transport.js";

/** The RabbitMQ the tests run against. */
export const amqpUrl = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/**
 * Whether RabbitMQ answers at {@link amqpUrl}. Without it the RabbitMQ tests are skipped
 * with a message, except on CI (`CI=true`), where a missing RabbitMQ is a failure, not a skip.
 */
export async function requireRabbitMq(): Promise<boolean> {
  try {
    const probe = await connect(amqpUrl, { timeout: 2000 });
    probe.on("error", () => {});
    await probe.close();
    return true;
  } catch (error) {
    if (process.env.CI === "true") {
      throw new Error(`RabbitMQ is not reachable at ${amqpUrl}, and CI=true requires it`, { cause: error });
    }
    return false;
  }
}

/** Opens the connection tests use to inspect and clean up; its errors are left to the calls. */
export async function openInspector(): Promise<ChannelModel> {
  const connection = await connect(amqpUrl, { noDelay: true });
  connection.on("error", () => {});
  return connection;
}

/**
 * Deletes the queues and exchanges a transport declared (durable ones would outlive the
 * test), plus `extraQueues`. Deleting what does not exist is not an error in RabbitMQ.
 */
export async function deleteTopology(
  inspector: ChannelModel,
  transport: Transport,
  extraQueues: readonly string[] = [],
): Promise<void> {
  if (!(transport.tasks instanceof AmqpTaskBroker)) return;
  const { declaredQueues, declaredExchanges } = transport.tasks.topology;
  const channel = await inspector.createChannel();
  channel.on("error", () => {});
  try {
    for (const queue of [...declaredQueues, ...extraQueues]) await channel.deleteQueue(queue);
    for (const exchange of declaredExchanges) await channel.deleteExchange(exchange);
  } finally {
    await channel.close().catch(() => {});
  }
}
