/**
 * Baseline of the Redis benchmark: request/reply on plain ioredis, the simplest thing that
 * could work, done competently. No durability beyond Redis's own (a popped request is gone
 * if the worker dies), no retries, no result store: what dingo is compared with is the cost
 * of moving the same request and response through the same server.
 *
 * - Callers append requests to one list per queue with LPUSH, on their command connection:
 *   one LPUSH per call, written at once (ioredis pipelines them on the socket). With
 *   `coalesce`, requests started in the same tick go in one variadic LPUSH instead: the
 *   per-tick batching that dingo is asked to do, as a ceiling.
 * - The worker pops up to `batch` requests at once (`BLMPOP … RIGHT COUNT batch`) on a
 *   connection of its own, runs the handler on each, and appends the replies to each
 *   caller's reply list with one variadic RPUSH per caller and batch, on another connection
 *   (pipelined: it does not wait for them before popping again).
 * - Each caller pops its reply list (`BLMPOP … LEFT COUNT 512`) on a connection of its own
 *   and settles its calls by request id.
 *
 * A request is `[u32 id][u16 reply key length][reply key][AddRequest bytes]`; a reply is
 * `[u32 id][AddResponse bytes]`, so the handler decodes and encodes the same messages as
 * dingo's.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { AddRequest, AddResponse } from "../generated/example/v1/math_pb.js";

/** Most requests one LPUSH carries (a bulk enqueue is split into such commands). */
const pushBatch = 1000;
/** Most replies one read of a reply list takes. */
const replyBatch = 512;
/** Blocking reads give up after this long (s) and are issued again: they end when closed. */
const blockSeconds = 1;

/** The keys of one baseline queue; every key shares the hash tag `{q}`. */
export interface RawKeys {
  readonly requests: string;
  replies(caller: string): string;
}

export function rawKeys(prefix: string): RawKeys {
  return {
    requests: `${prefix}:{q}:requests`,
    replies: (caller) => `${prefix}:{q}:replies:${caller}`,
  };
}

/** A caller: one command connection for requests, one blocking connection for its replies. */
export class RawCaller {
  private readonly commands: Redis;
  private readonly replies: Redis;
  private readonly replyKey: Buffer;
  private readonly pending = new Map<number, { resolve: (sum: number) => void; reject: (error: unknown) => void }>();
  private batch: Buffer[] = [];
  private batchIds: number[] = [];
  private nextId = 0;
  /** LPUSHes not answered yet, and who waits for them to be. */
  private pushing = 0;
  private drained: (() => void)[] = [];
  private closed = false;
  private readonly loop: Promise<void>;

  constructor(
    url: string,
    private readonly keys: RawKeys,
    name: string,
    /** Requests of one tick in one LPUSH, rather than one LPUSH per call. */
    private readonly coalesce = false,
  ) {
    this.commands = new Redis(url, { connectionName: `${name}:caller` });
    this.replies = new Redis(url, { connectionName: `${name}:caller-replies`, maxRetriesPerRequest: null });
    this.commands.on("error", ignore);
    this.replies.on("error", ignore);
    this.replyKey = Buffer.from(keys.replies(randomBytes(6).toString("hex")));
    this.loop = this.readReplies();
  }

  /** Sends `a + b` to the worker; resolves with its sum. */
  add(a: number, b: number): Promise<number> {
    const id = this.nextId++ >>> 0;
    const payload = AddRequest.encode({ a, b }).finish();
    const request = Buffer.allocUnsafe(6 + this.replyKey.length + payload.length);
    request.writeUInt32BE(id, 0);
    request.writeUInt16BE(this.replyKey.length, 4);
    this.replyKey.copy(request, 6);
    request.set(payload, 6 + this.replyKey.length);
    const reply = new Promise<number>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    if (!this.coalesce) {
      this.push([request], [id]);
      return reply;
    }
    if (this.batch.length === 0) queueMicrotask(() => this.flush());
    this.batch.push(request);
    this.batchIds.push(id);
    return reply;
  }

  /** Resolves once every request sent so far is in Redis. */
  sent(): Promise<void> {
    this.flush();
    if (this.pushing === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.replies.disconnect();
    await this.loop;
    await this.commands.quit().catch(ignore);
    for (const call of this.pending.values()) call.reject(new Error("closed"));
    this.pending.clear();
  }

  /** One LPUSH per `pushBatch` requests of this tick. */
  private flush(): void {
    const batch = this.batch;
    const ids = this.batchIds;
    if (batch.length === 0) return;
    this.batch = [];
    this.batchIds = [];
    for (let start = 0; start < batch.length; start += pushBatch) {
      this.push(batch.slice(start, start + pushBatch), ids.slice(start, start + pushBatch));
    }
  }

  private push(requests: Buffer[], ids: number[]): void {
    this.pushing++;
    this.commands.lpush(this.keys.requests, ...requests).then(
      () => this.pushed(),
      (error: unknown) => {
        for (const id of ids) {
          this.pending.get(id)?.reject(error);
          this.pending.delete(id);
        }
        this.pushed();
      },
    );
  }

  private pushed(): void {
    if (--this.pushing > 0) return;
    const waiting = this.drained;
    this.drained = [];
    for (const resolve of waiting) resolve();
  }

  private async readReplies(): Promise<void> {
    while (!this.closed) {
      let reply: unknown;
      try {
        reply = await this.replies.callBuffer("BLMPOP", blockSeconds, 1, this.replyKey, "LEFT", "COUNT", replyBatch);
      } catch {
        if (this.closed) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      if (!Array.isArray(reply) || !Array.isArray(reply[1])) continue;
      for (const item of reply[1] as Buffer[]) {
        const id = item.readUInt32BE(0);
        const call = this.pending.get(id);
        if (call === undefined) continue;
        this.pending.delete(id);
        call.resolve(AddResponse.decode(item.subarray(4)).sum);
      }
    }
  }
}

/** The worker: one blocking connection popping requests, one connection pushing replies. */
export class RawWorker {
  private readonly blocking: Redis;
  private readonly commands: Redis;
  private closed = false;
  private loop: Promise<void> | undefined;
  /** Requests handled so far. */
  handled = 0;

  constructor(
    url: string,
    private readonly keys: RawKeys,
    name: string,
    /** Most requests taken in one pop: the worker's concurrency. */
    private readonly batch: number,
  ) {
    this.blocking = new Redis(url, { connectionName: `${name}:worker`, maxRetriesPerRequest: null });
    this.commands = new Redis(url, { connectionName: `${name}:worker-replies` });
    this.blocking.on("error", ignore);
    this.commands.on("error", ignore);
  }

  start(): void {
    this.loop ??= this.run();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.blocking.disconnect();
    await this.loop;
    await this.commands.quit().catch(ignore);
  }

  private async run(): Promise<void> {
    const requestsKey = this.keys.requests;
    while (!this.closed) {
      let reply: unknown;
      try {
        reply = await this.blocking.callBuffer("BLMPOP", blockSeconds, 1, requestsKey, "RIGHT", "COUNT", this.batch);
      } catch {
        if (this.closed) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      if (!Array.isArray(reply) || !Array.isArray(reply[1])) continue;
      // Replies grouped by caller: one RPUSH per caller and batch, written without waiting.
      const byCaller = new Map<string, Buffer[]>();
      for (const request of reply[1] as Buffer[]) {
        const keyLength = request.readUInt16BE(4);
        const replyKey = request.toString("latin1", 6, 6 + keyLength);
        const { a, b } = AddRequest.decode(request.subarray(6 + keyLength));
        const response = AddResponse.encode({ sum: a + b }).finish();
        const out = Buffer.allocUnsafe(4 + response.length);
        request.copy(out, 0, 0, 4);
        out.set(response, 4);
        const replies = byCaller.get(replyKey);
        if (replies === undefined) byCaller.set(replyKey, [out]);
        else replies.push(out);
        this.handled++;
      }
      for (const [replyKey, replies] of byCaller) this.commands.rpush(replyKey, ...replies).catch(ignore);
    }
  }
}

function ignore(): void {}
