/**
 * BullMQ, the Node task queue dingo's Redis transport is compared with, used as its
 * documentation shows: `queue.add` then `job.waitUntilFinished(queueEvents)` for a round
 * trip, `queue.addBulk` for a bulk enqueue, a `Worker` with a trivial processor. Default
 * job options (completed jobs are kept, as dingo keeps results), its own ioredis
 * connections made from options (`maxRetriesPerRequest: null`, as BullMQ requires).
 */
import { Queue, QueueEvents, Worker } from "bullmq";

/** Connection options for BullMQ from a `redis://` URL. */
export function bullConnection(url: string) {
  const parsed = new URL(url);
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(parsed.port || 6379),
    ...(parsed.username === "" ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === "" ? {} : { password: decodeURIComponent(parsed.password) }),
    db: parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0,
    maxRetriesPerRequest: null,
  };
}

interface AddJob {
  a: number;
  b: number;
}

const processor = async (job: { data: AddJob }) => ({ sum: job.data.a + job.data.b });

/** A queue, its events, and a worker of `concurrency`, all under `prefix`. */
export class BullSetup {
  readonly queue: Queue<AddJob>;
  readonly events: QueueEvents;
  worker: Worker<AddJob> | undefined;
  private readonly connection: ReturnType<typeof bullConnection>;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly name: string,
    private readonly concurrency: number,
  ) {
    this.connection = bullConnection(url);
    this.queue = new Queue<AddJob>(name, { connection: this.connection, prefix });
    this.events = new QueueEvents(name, { connection: this.connection, prefix });
    this.queue.on("error", ignore);
    this.events.on("error", ignore);
    // Every waiting `waitUntilFinished` listens to both: 64 in flight is 64 listeners.
    this.queue.setMaxListeners(0);
    this.events.setMaxListeners(0);
  }

  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  /** Starts the worker; `onCompleted` hears of every job it completes. */
  async startWorker(onCompleted?: () => void): Promise<void> {
    const worker = new Worker<AddJob>(this.name, processor, {
      connection: this.connection,
      prefix: this.prefix,
      concurrency: this.concurrency,
    });
    worker.on("error", ignore);
    if (onCompleted !== undefined) worker.on("completed", onCompleted);
    this.worker = worker;
    await worker.waitUntilReady();
  }

  /** One round trip: add the job, wait for its outcome. */
  async call(): Promise<unknown> {
    const job = await this.queue.add("add", { a: 1, b: 2 });
    return job.waitUntilFinished(this.events);
  }

  /** Closes everything and deletes the queue's keys. */
  async close(): Promise<void> {
    await this.worker?.close();
    await this.events.close();
    await this.queue.obliterate({ force: true }).catch(ignore);
    await this.queue.close();
  }
}

function ignore(): void {}
