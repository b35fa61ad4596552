import type { Channel, GetMessage, Replies } from "amqplib";
import { headers, integerHeader, maxBucketExponent } from "./amqp-names.js";
import type { AmqpTaskBroker } from "./amqp-task-broker.js";
import type { QueueAdmin, QueueStats, RequeueResult } from "./queue-admin.js";
import { asBytes } from "./redis-bytes.js";
import type { DeadLetter } from "./transport.js";

/** Dead letters republished before waiting for their confirms, in a requeue. */
const requeueWindow = 256;

/**
 * The {@link QueueAdmin} of the RabbitMQ transport, over AMQP only (no management
 * plugin): counts come from passive declarations (`queue.declare` with `passive`), dead
 * letters are read with `basic.get` on a channel of their own. AMQP cannot list queues,
 * count unacknowledged deliveries, or tell which queue a task in a shared delay bucket
 * belongs to: those answers are `undefined` (docs/WIRE.md, RabbitMQ mapping, Operations).
 */
export class AmqpQueueAdmin implements QueueAdmin {
  constructor(private readonly broker: AmqpTaskBroker) {}

  async queues(): Promise<undefined> {
    return undefined;
  }

  async stats(queue: string): Promise<QueueStats> {
    const names = this.broker.topology.names;
    const [tasks, dead] = await this.check([names.taskQueue(queue), names.deadQueue(queue)]);
    return {
      queue,
      // A passive declare counts the ready messages, not the unacknowledged ones.
      waiting: tasks?.messageCount ?? 0,
      delayed: undefined,
      inFlight: undefined,
      dead: dead?.messageCount ?? 0,
      consumers: tasks?.consumerCount ?? 0,
    };
  }

  async sharedDelayed(): Promise<number> {
    const names = this.broker.topology.names;
    const buckets = Array.from({ length: maxBucketExponent + 1 }, (_, exponent) => names.delayBucket(2 ** exponent));
    let total = 0;
    for (const bucket of await this.check(buckets)) total += bucket?.messageCount ?? 0;
    return total;
  }

  async deadLetters(queue: string, limit = 100): Promise<DeadLetter[]> {
    const kept: DeadLetter[] = [];
    // Queues have no non-destructive read: take every letter without acking it, and
    // closing the channel puts them all back where they were.
    await this.readDeadLetters(queue, async (message) => {
      kept.push(deadLetterOf(queue, message));
      if (kept.length > limit) kept.shift();
      return "keep";
    });
    return kept;
  }

  async requeue(queue: string, ids: readonly string[] | "all"): Promise<RequeueResult> {
    const wanted = ids === "all" ? undefined : new Set(ids);
    const found = new Set<string>();
    let requeued = 0;
    await this.readDeadLetters(queue, async (message, channel) => {
      const id = messageIdOf(message);
      if (wanted !== undefined && !wanted.has(id)) return "keep";
      found.add(id);
      // A fresh task: due now, no delivery count, the bytes as they were dead-lettered.
      // Acked only after the broker confirmed the copy: a failure in between leaves the
      // task in both queues, never in neither.
      await this.broker.sendTask(queue, message.content, {
        priority: message.properties.priority ?? 0,
        messageId: id,
        notBeforeMs: 0,
        deliveries: 0,
      });
      channel.ack(message);
      requeued++;
      return wanted !== undefined && found.size === wanted.size ? "stop" : "keep";
    });
    return { requeued, missing: wanted === undefined ? [] : [...wanted].filter((id) => !found.has(id)) };
  }

  async purge(queue: string): Promise<number> {
    const name = this.broker.topology.names.deadQueue(queue);
    const [dead] = await this.check([name]);
    if (dead === undefined) return 0;
    return this.withChannel(async (channel) => (await channel.purgeQueue(name)).messageCount);
  }

  /**
   * Takes the dead letters of `queue` one by one with `basic.get` (unacked) and hands each
   * to `visit`, `requeueWindow` at a time, until the queue is empty or `visit` says stop;
   * the letters not acked go back when the channel closes.
   */
  private async readDeadLetters(
    queue: string,
    visit: (message: GetMessage, channel: Channel) => Promise<"keep" | "stop">,
  ): Promise<void> {
    const name = this.broker.topology.names.deadQueue(queue);
    const [dead] = await this.check([name]);
    if (dead === undefined) return;
    await this.withChannel(async (channel) => {
      for (let stop = false; !stop; ) {
        const batch: GetMessage[] = [];
        while (batch.length < requeueWindow) {
          const message = await channel.get(name, { noAck: false });
          if (message === false) break;
          batch.push(message);
        }
        const answers = await Promise.all(batch.map((message) => visit(message, channel)));
        stop = batch.length < requeueWindow || answers.includes("stop");
      }
    });
  }

  /** Passive declarations of `names`: undefined for a queue that does not exist. */
  private async check(names: readonly string[]): Promise<(Replies.AssertQueue | undefined)[]> {
    const replies: (Replies.AssertQueue | undefined)[] = [];
    let channel: Channel | undefined;
    try {
      for (const name of names) {
        channel ??= await this.broker.settings.connection.openChannel(ignore);
        try {
          replies.push(await channel.checkQueue(name));
        } catch (error) {
          if ((error as { code?: unknown }).code !== 404) throw error;
          // NOT_FOUND closed the channel: the next check needs a new one.
          replies.push(undefined);
          channel = undefined;
        }
      }
    } finally {
      await channel?.close().catch(ignore);
    }
    return replies;
  }

  private async withChannel<T>(use: (channel: Channel) => Promise<T>): Promise<T> {
    const channel = await this.broker.settings.connection.openChannel(ignore);
    try {
      return await use(channel);
    } finally {
      await channel.close().catch(ignore);
    }
  }
}

function messageIdOf(message: GetMessage): string {
  const id: unknown = message.properties.messageId;
  return typeof id === "string" ? id : "";
}

function deadLetterOf(queue: string, message: GetMessage): DeadLetter {
  const letterHeaders = message.properties.headers ?? {};
  return {
    id: messageIdOf(message),
    queue,
    body: asBytes(message.content),
    reason: String(letterHeaders[headers.reason] ?? ""),
    atMs: integerHeader(letterHeaders[headers.deadAt]),
    deliveries: integerHeader(letterHeaders[headers.deliveries]),
  };
}

function ignore(): void {}
