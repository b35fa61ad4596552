import { decodeProgress, errorOf, type ReportEnvelope, taskStatus } from "./envelope.js";
import type { MessageCodec } from "./message-codec.js";
import { TaskError } from "./task-error.js";
import type { ReportBase, TaskReport } from "./task-report.js";

/**
 * Turns a decoded `dingo.v1.Report` into the typed report users see, decoding the
 * response with the method's codec. A report that cannot be understood becomes a
 * `failure` (for a final status) or undefined (for an intermediate one), never a throw.
 */
export function reportFromEnvelope<Res>(
  envelope: ReportEnvelope,
  response: MessageCodec<Res>,
): TaskReport<Res> | undefined {
  const base: ReportBase = {
    taskId: envelope.taskId,
    name: envelope.name,
    attempt: envelope.attempt,
    atMs: envelope.atMs,
    workerId: envelope.workerId,
  };
  const status = taskStatus(envelope.status);
  switch (status) {
    case "sent":
    case "received":
      return { ...base, status };
    case "progress":
      try {
        return { ...base, status, progress: decodeProgress(envelope.payload) };
      } catch {
        return undefined;
      }
    case "retry":
      return { ...base, status, error: errorOf(envelope.error), nextAttemptAtMs: envelope.nextAttemptAtMs };
    case "success":
      try {
        return { ...base, status, response: response.decode(envelope.payload) };
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        return {
          ...base,
          status: "failure",
          error: new TaskError(`the response does not decode as the method's response type: ${reason}`, "internal", {
            cause: error,
            retryable: false,
          }),
        };
      }
    case "failure":
    case "cancelled":
      return { ...base, status, error: errorOf(envelope.error) };
    case undefined:
      return undefined;
  }
}
