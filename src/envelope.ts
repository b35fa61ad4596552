/**
 * The one place where `dingo.v1` envelopes are encoded and decoded. Everything
 * else handles the decoded objects; transports only ever see the bytes.
 */
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  type Failure,
  type Report,
  ReportLevel,
  type Task,
  Status as WireStatus,
} from "../generated/dingo/v1/envelope_pb.js";
import { codeFromWire, codeToWire } from "./code.js";
import { envelopeCodec } from "./envelope-codec.js";
import { TaskError } from "./task-error.js";

export type {
  Failure,
  Report as ReportEnvelope,
  RetryPolicy,
  Task as TaskEnvelope,
} from "../generated/dingo/v1/envelope_pb.js";
export { ReportLevel };

/**
 * Where a task is in its life, as carried by reports. `success`, `failure` and
 * `cancelled` are final: exactly one of them ends every task.
 */
export type TaskStatus = "sent" | "received" | "progress" | "retry" | "success" | "failure" | "cancelled";

const statusToWire: Readonly<Record<TaskStatus, WireStatus>> = {
  sent: WireStatus.STATUS_SENT,
  received: WireStatus.STATUS_RECEIVED,
  progress: WireStatus.STATUS_PROGRESS,
  retry: WireStatus.STATUS_RETRY,
  success: WireStatus.STATUS_SUCCESS,
  failure: WireStatus.STATUS_FAILURE,
  cancelled: WireStatus.STATUS_CANCELLED,
};
const statusFromWire = new Map<number, TaskStatus>(
  Object.entries(statusToWire).map(([status, wire]) => [wire, status as TaskStatus]),
);

/** The `dingo.v1.Status` number of a status. */
export function wireStatus(status: TaskStatus): WireStatus {
  return statusToWire[status];
}

/** The status of a `dingo.v1.Status` number, or undefined for numbers this version does not know. */
export function taskStatus(wire: number): TaskStatus | undefined {
  return statusFromWire.get(wire);
}

// One writer reused for every message encoded with ts-proto (the envelopes have their own
// codec): encoding is synchronous, so it is never shared by two encodes at once, and reuse
// saves an allocation per message on the hot path.
const writer = new BinaryWriter();

/** Encodes a Task envelope. */
export function encodeTask(task: Task): Uint8Array {
  return envelopeCodec.encodeTask(task);
}

/** Decodes a Task envelope. Throws on bytes that are not one. */
export function decodeTask(bytes: Uint8Array): Task {
  return envelopeCodec.decodeTask(bytes);
}

/** Encodes a Report envelope. */
export function encodeReport(report: Report): Uint8Array {
  return envelopeCodec.encodeReport(report);
}

/** Decodes a Report envelope. Throws on bytes that are not one. */
export function decodeReport(bytes: Uint8Array): Report {
  return envelopeCodec.decodeReport(bytes);
}

/** Encodes a message with the shared writer (see above). */
export function encodeMessage<T>(
  codec: { encode(message: T, writer: BinaryWriter): BinaryWriter },
  message: T,
): Uint8Array {
  return codec.encode(message, writer).finish();
}

/** Fields of a report that the producer chooses; the rest default to empty. */
export type ReportInit = Pick<Report, "taskId" | "name" | "status" | "attempt"> & Partial<Report>;

/** Builds a complete Report envelope object, stamped now. */
export function createReport(init: ReportInit): Report {
  return {
    payload: emptyBytes,
    error: undefined,
    workerId: "",
    atMs: Date.now(),
    nextAttemptAtMs: 0,
    ...init,
  };
}

const emptyBytes = new Uint8Array(0);

/** The wire form of a TaskError. */
export function failureOf(error: TaskError): Failure {
  return {
    code: codeToWire(error.code),
    message: error.rawMessage,
    retryable: error.retryable,
    details: error.details.map((detail) => ({ type: detail.type, value: detail.value })),
  };
}

/** The TaskError a Failure describes. An absent failure reads as `unknown`. */
export function errorOf(failure: Failure | undefined): TaskError {
  if (failure === undefined) return new TaskError("the report carried no error", "unknown");
  return new TaskError(failure.message, codeFromWire(failure.code), {
    retryable: failure.retryable,
    details: failure.details,
  });
}

/** Progress update of a running task, as a handler reports it. */
export interface ProgressUpdate {
  /** Completed fraction in percent, 0..100. */
  readonly percent?: number;
  /** Human-readable note. */
  readonly message?: string;
  /** Application-defined detail, protobuf binary. */
  readonly detail?: Uint8Array;
}

/** Encodes a progress update as the payload of a PROGRESS report. */
export function encodeProgress(update: ProgressUpdate): Uint8Array {
  return envelopeCodec.encodeProgress({
    percent: update.percent ?? -1,
    message: update.message ?? "",
    detail: update.detail ?? emptyBytes,
  });
}

/** Decodes the payload of a PROGRESS report. */
export function decodeProgress(bytes: Uint8Array): ProgressUpdate {
  const progress = envelopeCodec.decodeProgress(bytes);
  return {
    ...(progress.percent >= 0 ? { percent: progress.percent } : {}),
    message: progress.message,
    detail: progress.detail,
  };
}
