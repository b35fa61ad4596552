import { Fifo } from "../fifo.js";
import { MinHeap } from "../min-heap.js";
import { maxPriority } from "../task-options.js";
import { handOver } from "./hand-over.js";
import type { ConsumeOptions, Consumer, DeadLetter, Delivery, OutgoingTask, TaskBroker } from "./transport.js";

/** A task held by the memory broker. */
interface Entry {
  readonly queue: string;
  readonly body: Uint8Array;
  readonly priority: number;
  readonly notBeforeMs: number;
  deliveryCount: number;
}

interface MemoryConsumer {
  readonly queues: readonly string[];
  readonly prefetch: number;
  readonly onDelivery: (delivery: Delivery) => void;
  readonly onError: (error: unknown) => void;
  outstanding: number;
  stopped: boolean;
}

/** A dead letter as the memory broker keeps it: with its priority, for a requeue. */
export interface MemoryDeadLetter {
  readonly letter: DeadLetter;
  readonly priority: number;
}

/** One queue of the memory broker; `MemoryQueueAdmin` reads its counts and dead letters. */
export class MemoryQueue {
  /** Ready tasks, one FIFO per priority: index 9 is served first. */
  readonly ready: Fifo<Entry>[] = Array.from({ length: maxPriority + 1 }, () => new Fifo<Entry>());
  readonly consumers: MemoryConsumer[] = [];
  deadLetters = new Fifo<MemoryDeadLetter>();
  /** Round-robin position among consumers. */
  turn = 0;
  readyCount = 0;
  /** Tasks of this queue in the broker's delayed heap. */
  delayedCount = 0;
  /** Deliveries of this queue not settled yet. */
  inFlight = 0;

  take(): Entry | undefined {
    for (let priority = maxPriority; priority >= 0; priority--) {
      const entry = (this.ready[priority] as Fifo<Entry>).shift();
      if (entry !== undefined) {
        this.readyCount--;
        return entry;
      }
    }
    return undefined;
  }

  put(entry: Entry, front = false): void {
    const fifo = this.ready[entry.priority] as Fifo<Entry>;
    if (front) fifo.unshift(entry);
    else fifo.push(entry);
    this.readyCount++;
  }

  /** The next consumer with room for a delivery, round robin; undefined if none. */
  nextConsumer(): MemoryConsumer | undefined {
    const consumers = this.consumers;
    for (let tried = 0; tried < consumers.length; tried++) {
      this.turn = (this.turn + 1) % consumers.length;
      const consumer = consumers[this.turn] as MemoryConsumer;
      if (!consumer.stopped && consumer.outstanding < consumer.prefetch) return consumer;
    }
    return undefined;
  }
}

/** Options of the memory task broker. */
export interface MemoryTaskBrokerOptions {
  /** Dead letters kept per queue; the oldest go first. */
  readonly maxDeadLetters: number;
}

/**
 * The in-process task broker: priority FIFOs per queue, a heap of delayed tasks under
 * one timer, and deliveries that stay outstanding until settled, as on a real broker.
 */
export class MemoryTaskBroker implements TaskBroker {
  private readonly queues = new Map<string, MemoryQueue>();
  private readonly delayed = new MinHeap<Entry>((entry) => entry.notBeforeMs);
  private delayTimer: NodeJS.Timeout | undefined;
  private delayTimerAt = Number.POSITIVE_INFINITY;
  private readonly dirty = new Set<MemoryQueue>();
  private pumpScheduled = false;
  private microtaskPumps = 0;
  private readonly pumpNow = (): void => this.pump();
  private closed = false;
  /** Ids of dead letters: a sequence per broker. */
  private deadLetterCount = 0;

  constructor(private readonly options: MemoryTaskBrokerOptions) {}

  // Not `async`: publishing is synchronous here, and an async function would allocate a
  // promise per task.
  publish(task: OutgoingTask): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    this.enqueue({
      queue: task.queue,
      body: task.body,
      priority: clampPriority(task.priority),
      notBeforeMs: task.notBeforeMs,
      deliveryCount: 0,
    });
    return done;
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    this.assertOpen();
    const consumer: MemoryConsumer = {
      queues: options.queues,
      prefetch: Math.max(1, options.prefetch),
      onDelivery: options.onDelivery,
      onError: options.onError,
      outstanding: 0,
      stopped: false,
    };
    for (const name of options.queues) {
      const queue = this.queue(name);
      queue.consumers.push(consumer);
      this.markDirty(queue);
    }
    return {
      stop: async () => {
        if (consumer.stopped) return;
        consumer.stopped = true;
        for (const name of consumer.queues) {
          const queue = this.queue(name);
          queue.consumers.splice(queue.consumers.indexOf(consumer), 1);
        }
      },
    };
  }

  /** The queues this broker has seen, by name (for `MemoryQueueAdmin`). */
  knownQueues(): ReadonlyMap<string, MemoryQueue> {
    this.assertOpen();
    return this.queues;
  }

  /** Stops timers and forgets every task. */
  close(): void {
    this.closed = true;
    clearTimeout(this.delayTimer);
    this.queues.clear();
    this.dirty.clear();
  }

  private enqueue(entry: Entry): void {
    if (entry.notBeforeMs > Date.now()) {
      this.queue(entry.queue).delayedCount++;
      this.delayed.push(entry);
      this.armDelayTimer();
      return;
    }
    const queue = this.queue(entry.queue);
    queue.put(entry);
    this.markDirty(queue);
  }

  private queue(name: string): MemoryQueue {
    let queue = this.queues.get(name);
    if (queue === undefined) {
      queue = new MemoryQueue();
      this.queues.set(name, queue);
    }
    return queue;
  }

  private markDirty(queue: MemoryQueue): void {
    this.dirty.add(queue);
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // Deliver on a later turn of the event loop, as a remote broker would: the
    // publisher's code runs to completion first, and deliveries are batched.
    // Most pumps run as microtasks, right after the code that queued the work; every
    // 64th waits for the next turn of the event loop so that I/O and timers are never
    // starved by a saturated in-process queue.
    if (++this.microtaskPumps % 64 === 0) setImmediate(this.pumpNow);
    // Not queueMicrotask: it makes an AsyncResource per call. pump() does not throw.
    else void done.then(this.pumpNow);
  }

  private pump(): void {
    this.pumpScheduled = false;
    if (this.closed) return;
    const queues = [...this.dirty];
    this.dirty.clear();
    for (const queue of queues) {
      while (queue.readyCount > 0) {
        const consumer = queue.nextConsumer();
        if (consumer === undefined) break;
        const entry = queue.take() as Entry;
        entry.deliveryCount++;
        consumer.outstanding++;
        queue.inFlight++;
        const delivery = this.delivery(entry, consumer, queue);
        handOver(delivery, consumer.onDelivery, consumer.onError);
      }
    }
  }

  private delivery(entry: Entry, consumer: MemoryConsumer, queue: MemoryQueue): Delivery {
    return new MemoryDelivery(this, entry, consumer, queue);
  }

  /** A delivery was settled: its consumer has room again. */
  settled(consumer: MemoryConsumer, queue: MemoryQueue): void {
    consumer.outstanding--;
    queue.inFlight--;
    if (queue.readyCount > 0) this.markDirty(queue);
  }

  /** Queues a task again (a retry), delayed or not. */
  requeue(next: OutgoingTask): void {
    this.enqueue({
      queue: next.queue,
      body: next.body,
      priority: clampPriority(next.priority),
      notBeforeMs: next.notBeforeMs,
      deliveryCount: 0,
    });
  }

  /** Keeps a dead letter, dropping the oldest beyond the limit. */
  bury(queue: MemoryQueue, entry: Entry, reason: string): void {
    const letters = queue.deadLetters;
    const letter: DeadLetter = {
      id: String(++this.deadLetterCount),
      queue: entry.queue,
      // An own copy, as dead letters are kept long: the body may share a pool block.
      body: new Uint8Array(entry.body),
      reason,
      atMs: Date.now(),
      deliveries: entry.deliveryCount,
    };
    letters.push({ letter, priority: entry.priority });
    while (letters.length > this.options.maxDeadLetters) letters.shift();
  }

  /** Puts a released task back at the front of its queue. */
  putBack(queue: MemoryQueue, entry: Entry): void {
    if (this.closed) return;
    queue.put(entry, true);
    this.markDirty(queue);
  }

  private armDelayTimer(): void {
    const next = this.delayed.peek();
    if (next === undefined || next.notBeforeMs >= this.delayTimerAt) return;
    clearTimeout(this.delayTimer);
    this.delayTimerAt = next.notBeforeMs;
    this.delayTimer = setTimeout(() => this.promoteDue(), Math.max(0, next.notBeforeMs - Date.now()));
  }

  private promoteDue(): void {
    this.delayTimerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    for (
      let entry = this.delayed.peek();
      entry !== undefined && entry.notBeforeMs <= now;
      entry = this.delayed.peek()
    ) {
      this.delayed.pop();
      const queue = this.queue(entry.queue);
      queue.delayedCount--;
      queue.put(entry);
      this.markDirty(queue);
    }
    this.armDelayTimer();
  }

  private assertOpen(): void {
    if (this.closed) throw closedError();
  }
}

const done: Promise<void> = Promise.resolve();

function closedError(): Error {
  return new Error("the memory transport is closed");
}

function clampPriority(priority: number): number {
  return Math.min(maxPriority, Math.max(0, Math.floor(priority)));
}

/**
 * One delivery of the memory broker. A class rather than a literal with closures: one
 * is made per task, and methods on a prototype cost nothing per instance.
 */
class MemoryDelivery implements Delivery {
  readonly queue: string;
  readonly body: Uint8Array;
  readonly deliveryCount: number;
  private done = false;

  constructor(
    private readonly broker: MemoryTaskBroker,
    private readonly entry: Entry,
    private readonly consumer: MemoryConsumer,
    private readonly from: MemoryQueue,
  ) {
    this.queue = entry.queue;
    this.body = entry.body;
    this.deliveryCount = entry.deliveryCount;
  }

  ack(): Promise<void> {
    // Not `async`, like publish: one shared promise for the common case.
    if (!this.settle()) return Promise.reject(this.settledTwice());
    return done;
  }

  async retry(next: OutgoingTask): Promise<void> {
    if (!this.settle()) throw this.settledTwice();
    this.broker.requeue(next);
  }

  async deadLetter(reason: string): Promise<void> {
    if (!this.settle()) throw this.settledTwice();
    this.broker.bury(this.from, this.entry, reason);
  }

  async release(): Promise<void> {
    if (!this.settle()) throw this.settledTwice();
    this.broker.putBack(this.from, this.entry);
  }

  /** Marks the delivery settled; false if it was settled before. */
  private settle(): boolean {
    if (this.done) return false;
    this.done = true;
    this.broker.settled(this.consumer, this.from);
    return true;
  }

  private settledTwice(): Error {
    return new Error(`a delivery of a task from ${this.queue} was settled twice`);
  }
}
