import { decodeProgress, errorOf, type ReportEnvelope, taskStatus } from "./envelope.js";
import type { MessageCodec } from "./message-codec.js";
import { TaskError } from "./task-error.js";
import type { TaskReport } from "./task-report.js";

/**
 * Turns a decoded `dingo.v1.Report` into the typed report users see, decoding the
 * response with the method's codec. A report that cannot be understood becomes a
 * `failure` (for a final status) or undefined (for an intermediate one), never a throw.
 */
export function reportFromEnvelope<Res>(
  envelope: ReportEnvelope,
  response: MessageCodec<Res>,
): TaskReport<Res> | undefined {
  // Object literals with every field spelled out, not spreads of a base: this runs for
  // every report, and literals of one shape keep the property access sites monomorphic.
  const { taskId, name, attempt, atMs, workerId } = envelope;
  const status = taskStatus(envelope.status);
  switch (status) {
    case "sent":
    case "received":
      return { status, taskId, name, attempt, atMs, workerId };
    case "progress":
      try {
        return { status, taskId, name, attempt, atMs, workerId, progress: decodeProgress(envelope.payload) };
      } catch {
        return undefined;
      }
    case "retry":
      return {
        status,
        taskId,
        name,
        attempt,
        atMs,
        workerId,
        error: errorOf(envelope.error),
        nextAttemptAtMs: envelope.nextAttemptAtMs,
      };
    case "success": {
      let decoded: Res;
      try {
        decoded = response.decode(envelope.payload);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        const failure = new TaskError(
          `the response does not decode as the method's response type: ${reason}`,
          "internal",
          {
            cause: error,
            retryable: false,
          },
        );
        return { status: "failure", taskId, name, attempt, atMs, workerId, error: failure };
      }
      return { status, taskId, name, attempt, atMs, workerId, response: decoded };
    }
    case "failure":
    case "cancelled":
      return { status, taskId, name, attempt, atMs, workerId, error: errorOf(envelope.error) };
    case undefined:
      return undefined;
  }
}
