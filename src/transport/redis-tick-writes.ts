import type { Redis } from "ioredis";

/** A socket that can hold writes back (`net.Socket`, `tls.TLSSocket`). */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/** Sockets corked in the current tick. */
const corked = new Set<Corkable>();
/** Work to do at the end of the current tick, before the sockets are uncorked. */
const tickEndWork: (() => void)[] = [];
/** The same, to do after all of `tickEndWork` (see `atTickEnd`). */
const tickEndLastWork: (() => void)[] = [];
/** Whether the end of the current tick is scheduled. */
let tickEndScheduled = false;

/**
 * Makes the commands issued on `redis` from now until the end of the current tick go out
 * in one socket write: the socket is corked at the first command of a tick and uncorked
 * at `process.nextTick`, which runs once the current stack and the promise reactions it
 * queued have run and before any I/O, so nothing waits longer than this tick's own code.
 *
 * ioredis writes every command to the socket at once (pipelined, but one `write` each);
 * per-command writes were half of the Node CPU time of a round trip. ioredis's own
 * auto-pipelining (batches through `pipeline()`) measured slower than this. Commands stay
 * in the order they were issued, so a command issued after another is still run after it.
 * Call it before issuing a command; commands issued later in the same tick on the same
 * socket ride along whether they called it or not.
 */
export function batchTickWrites(redis: Redis): void {
  if (redis.status !== "ready") return; // queued offline: ioredis writes them on connect
  const socket = (redis as unknown as { stream?: Corkable }).stream;
  if (socket === undefined || corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  scheduleTickEnd();
}

/**
 * Runs `work` at the end of the current tick, before the sockets corked in it are
 * uncorked, so that commands it issues go out in the tick's one write. `work` must not
 * throw. Work runs in the order it was queued; with `last`, after every work queued
 * without it, so that its commands follow theirs on the socket (a worker's acks follow
 * the reports it sent in the same tick: Redis runs a connection's commands in order, and
 * a connection cut in the middle of a write runs only the commands before the cut).
 */
export function atTickEnd(work: () => void, last = false): void {
  (last ? tickEndLastWork : tickEndWork).push(work);
  scheduleTickEnd();
}

function scheduleTickEnd(): void {
  if (tickEndScheduled) return;
  tickEndScheduled = true;
  process.nextTick(endTick);
}

function endTick(): void {
  try {
    // Work may queue more work (index loops, not for…of over a copy): first work, then
    // last work, then first work queued by last work, and so on.
    let first = 0;
    let last = 0;
    while (first < tickEndWork.length || last < tickEndLastWork.length) {
      if (first < tickEndWork.length) (tickEndWork[first++] as () => void)();
      else (tickEndLastWork[last++] as () => void)();
    }
  } finally {
    tickEndWork.length = 0;
    tickEndLastWork.length = 0;
    for (const socket of corked) socket.uncork();
    corked.clear();
    tickEndScheduled = false;
  }
}
