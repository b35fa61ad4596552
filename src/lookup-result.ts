import { decodeReport } from "./envelope.js";
import { reportFromEnvelope } from "./report-from-envelope.js";
import type { MethodDefinition } from "./service-definition.js";
import { taskKey } from "./task-key.js";
import type { FinalReport } from "./task-report.js";
import type { Transport } from "./transport/transport.js";

/**
 * The recorded outcome of a task, looked up by its id — from any client of the
 * transport, any time within the result retention. Undefined if the task has no
 * outcome yet, never existed, or its record expired.
 *
 * @example
 * ```ts
 * const outcome = await lookupResult(MathTasks.methods.add, transport, id);
 * if (outcome?.status === "success") console.log(outcome.response.sum);
 * ```
 */
export async function lookupResult<Req, Res>(
  method: MethodDefinition<Req, Res>,
  transport: Transport,
  id: string,
): Promise<FinalReport<Res> | undefined> {
  const recorded = await transport.results.lookup(taskKey(method.taskName, id));
  if (recorded === undefined) return undefined;
  const report = reportFromEnvelope(decodeReport(recorded), method.response);
  if (report?.status === "success" || report?.status === "failure" || report?.status === "cancelled") return report;
  return undefined;
}
