import { Fifo } from "../fifo.js";
import type { MemoryDeadLetter, MemoryQueue, MemoryTaskBroker } from "./memory-task-broker.js";
import type { QueueAdmin, QueueStats, RequeueResult } from "./queue-admin.js";
import type { DeadLetter } from "./transport.js";

/**
 * The {@link QueueAdmin} of the memory transport: exact counts read from the broker's own
 * queues (every count is known in process), requeue and purge done synchronously, so both
 * are atomic.
 */
export class MemoryQueueAdmin implements QueueAdmin {
  constructor(private readonly broker: MemoryTaskBroker) {}

  async queues(): Promise<readonly string[]> {
    return [...this.broker.knownQueues().keys()].sort();
  }

  async stats(queue: string): Promise<QueueStats> {
    const state = this.broker.knownQueues().get(queue);
    return {
      queue,
      waiting: state?.readyCount ?? 0,
      delayed: state?.delayedCount ?? 0,
      inFlight: state?.inFlight ?? 0,
      dead: state?.deadLetters.length ?? 0,
      consumers: state?.consumers.length ?? 0,
    };
  }

  async sharedDelayed(): Promise<undefined> {
    return undefined;
  }

  async deadLetters(queue: string, limit = 100): Promise<DeadLetter[]> {
    const stored = this.broker.knownQueues().get(queue)?.deadLetters.toArray() ?? [];
    return stored.slice(Math.max(0, stored.length - limit)).map((item) => item.letter);
  }

  async requeue(queue: string, ids: readonly string[] | "all"): Promise<RequeueResult> {
    const state = this.broker.knownQueues().get(queue);
    const wanted = ids === "all" ? undefined : new Set(ids);
    const moved = takeLetters(state, (item) => wanted === undefined || wanted.delete(item.letter.id));
    for (const { letter, priority } of moved) {
      this.broker.requeue({ id: letter.id, queue, body: letter.body, priority, notBeforeMs: 0 });
    }
    return { requeued: moved.length, missing: wanted === undefined ? [] : [...wanted] };
  }

  async purge(queue: string): Promise<number> {
    return takeLetters(this.broker.knownQueues().get(queue), () => true).length;
  }
}

/** Removes the dead letters of `state` that `pick` selects, keeping the others in order. */
function takeLetters(state: MemoryQueue | undefined, pick: (item: MemoryDeadLetter) => boolean): MemoryDeadLetter[] {
  if (state === undefined) return [];
  const taken: MemoryDeadLetter[] = [];
  const kept = new Fifo<MemoryDeadLetter>();
  for (const item of state.deadLetters.toArray()) {
    if (pick(item)) taken.push(item);
    else kept.push(item);
  }
  state.deadLetters = kept;
  return taken;
}
