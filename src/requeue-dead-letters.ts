import { decodeReport, decodeTask, taskStatus } from "./envelope.js";
import { taskKey } from "./task-key.js";
import type { RequeueResult } from "./transport/queue-admin.js";
import type { Transport } from "./transport/transport.js";

/** Most dead letters one requeue reads to find the tasks' failures (the Redis transport keeps 10,000 by default). */
const maxLetters = 100_000;

/**
 * Puts dead letters of `queue` back as fresh tasks (`ids` as `QueueAdmin.deadLetters`
 * names them, or `"all"`), so that they run again: a task dead-lettered by a worker
 * (unknown task, undecodable payload, too many deliveries) has its FAILURE recorded, and
 * a worker answers a delivery from the record instead of running it. So each chosen
 * task's record is forgotten first if it is still that FAILURE (a success or a
 * cancellation recorded meanwhile stays, and answers the task), then the letters are
 * requeued. Forgetting first: a worker may take a requeued task at once.
 *
 * Where each worker keeps its own records (RabbitMQ without a shared result store), the
 * records this transport forgets are only its own: a worker that recorded the failure
 * answers from it if the task comes back to it, until the record expires.
 */
export async function requeueDeadLetters(
  transport: Transport,
  queue: string,
  ids: readonly string[] | "all",
): Promise<RequeueResult> {
  const chosen = ids === "all" ? undefined : new Set(ids);
  for (const letter of await transport.admin.deadLetters(queue, maxLetters)) {
    if (chosen !== undefined && !chosen.has(letter.id)) continue;
    let key: string;
    try {
      const task = decodeTask(letter.body);
      key = taskKey(task.name, task.id);
    } catch {
      continue; // Not a task: nothing can be recorded for it.
    }
    const recorded = await transport.results.lookup(key);
    if (recorded !== undefined && isFailure(recorded)) await transport.results.forget(key, recorded);
  }
  return transport.admin.requeue(queue, ids);
}

function isFailure(report: Uint8Array): boolean {
  try {
    return taskStatus(decodeReport(report).status) === "failure";
  } catch {
    return false;
  }
}
