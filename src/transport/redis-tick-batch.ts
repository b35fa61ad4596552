import type { Redis } from "ioredis";
import { type RedisScriptName, runScript, type ScriptArgument } from "./redis-scripts.js";
import { atTickEnd } from "./redis-tick-writes.js";

/** Settings of a {@link RedisTickBatch}. */
export interface TickBatchOptions {
  /** Most items in one run (Lua's `unpack` is bounded): a full group is set aside and a new one started. Default 256. */
  readonly maxItems?: number;
  /** Whether its runs go out after those of batches without it in the tick's write (`atTickEnd`). */
  readonly last?: boolean;
}

/** The items queued for one key in one tick, and the promise of the run that carries them. */
interface Group<Item> {
  readonly items: Item[];
  readonly done: Promise<unknown>;
  resolve(reply: unknown): void;
  reject(error: unknown): void;
}

/**
 * Runs one script per key and tick for all the items queued for that key in the tick,
 * rather than one per item: the acks of one stream, the reports to one inbox. A script's
 * keys are one key's (one hash slot), so the batch stays Cluster-safe. Items of one key
 * keep the order they were added in; the runs are issued at the end of the tick, in the
 * tick's one socket write (see `batchTickWrites`). Every item of a run gets the run's
 * promise: its reply, or its error; or, with `addOwn`, its own entry of the reply.
 */
export class RedisTickBatch<Item> {
  private groups = new Map<string, Group<Item>>();
  /** Groups that reached `maxItems` this tick, in the order they filled. */
  private full: [string, Group<Item>][] = [];
  private scheduled = false;

  private readonly maxItems: number;
  private readonly last: boolean;

  /** @param argsOf keys and arguments of one run of `script` for the items of `key`, in order. */
  constructor(
    private readonly redis: Redis,
    private readonly script: RedisScriptName,
    private readonly argsOf: (key: string, items: readonly Item[]) => ScriptArgument[],
    options: TickBatchOptions = {},
  ) {
    this.maxItems = options.maxItems ?? 256;
    this.last = options.last ?? false;
  }

  /** Queues `item` for `key`; resolves with the reply of the run that carries it. */
  add(key: string, item: Item): Promise<unknown> {
    let group = this.groups.get(key);
    if (group === undefined) {
      group = newGroup<Item>();
      this.groups.set(key, group);
      if (!this.scheduled) {
        this.scheduled = true;
        atTickEnd(this.flush, this.last);
      }
    }
    group.items.push(item);
    const done = group.done;
    if (group.items.length >= this.maxItems) {
      // Run at the flush like the rest, so that its place in the tick's write is kept.
      this.groups.delete(key);
      this.full.push([key, group]);
    }
    return done;
  }

  /**
   * Queues `item` for `key`, for a script that replies with one entry per item, in order;
   * resolves with the item's own entry (or rejects with the run's error).
   */
  addOwn(key: string, item: Item): Promise<unknown> {
    const index = this.groups.get(key)?.items.length ?? 0;
    return this.add(key, item).then((reply) => {
      if (!Array.isArray(reply) || index >= reply.length) throw new Error(`unexpected reply to ${this.script}`);
      return reply[index];
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const full = this.full;
    const groups = this.groups;
    if (full.length > 0) this.full = [];
    if (groups.size > 0) this.groups = new Map();
    for (const [key, group] of full) this.run(key, group);
    for (const [key, group] of groups) this.run(key, group);
  };

  private run(key: string, group: Group<Item>): void {
    let running: Promise<unknown>;
    try {
      running = runScript(this.redis, this.script, this.argsOf(key, group.items));
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(group.resolve, group.reject);
  }
}

function newGroup<Item>(): Group<Item> {
  let resolve!: (reply: unknown) => void;
  let reject!: (error: unknown) => void;
  const done = new Promise<unknown>((onReply, onError) => {
    resolve = onReply;
    reject = onError;
  });
  return { items: [], done, resolve, reject };
}
