/**
 * The golden vectors of the `dingo.v1` wire contract, as readable definitions. This list is
 * the single source: `generate-vectors.ts` turns it into `<name>.bin` and `index.json`, and
 * test/golden-vectors.test.ts checks those files, never this list directly.
 *
 * Every value is fixed (no clock, no randomness), so the files are the same on every run.
 * Changing a definition changes the files; run the generator and commit both.
 */
import {
  Code,
  type DeepPartial,
  type Progress,
  type Report,
  ReportLevel,
  Status,
  type Task,
} from "../../generated/dingo/v1/envelope_pb.js";
import { AddRequest, AddResponse } from "../../generated/example/v1/math_pb.js";

/** One golden vector before encoding: a Task or a Report, with what it covers. */
export type VectorDefinition = TaskVectorDefinition | ReportVectorDefinition;

/** Fields every vector definition has. */
interface VectorDefinitionBase {
  /** File name without `.bin`; kebab-case, unique. */
  readonly name: string;
  /** One readable sentence of what the vector covers. */
  readonly description: string;
}

/** A `dingo.v1.Task` vector. Fields left out have their proto3 defaults. */
export interface TaskVectorDefinition extends VectorDefinitionBase {
  readonly type: "dingo.v1.Task";
  readonly message: DeepPartial<Task>;
}

/** A `dingo.v1.Report` vector. Fields left out have their proto3 defaults. */
export interface ReportVectorDefinition extends VectorDefinitionBase {
  readonly type: "dingo.v1.Report";
  readonly message: DeepPartial<Report>;
  /**
   * For a PROGRESS report: the `dingo.v1.Progress` its payload carries. The payload is
   * encoded from this, and index.json describes it too, so that a reader can check the
   * nested message as well.
   */
  readonly progress?: DeepPartial<Progress>;
}

// Values shared by the vectors, so that they read as one task's life.
const taskId = "0b9f6d4e-8c1a-4f3e-9a57-2d1c3b4a5e6f";
const taskName = "example.v1.MathTasks/Add";
const workerId = "worker-7.example.internal-4242-9f8e7d6c";
/** 2026-11-28T00:44:50.123Z: epoch milliseconds are already beyond 2^32. */
const createdAtMs = 1_764_290_690_123;
/** W3C Trace Context's own example values. */
const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

/** Size of the large payload: 100 KiB, so its length prefix is a 3-byte varint. */
const largePayloadSize = 100 * 1024;

/**
 * Deterministic bytes that cover every byte value and do not repeat with a short period
 * (an xorshift32 stream from a fixed seed), so a codec that mangles one byte is caught.
 */
function largePayload(): Uint8Array {
  const bytes = new Uint8Array(largePayloadSize);
  let state = 0x9e3779b9;
  for (let i = 0; i < bytes.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

/** For hand-made message bytes (a google.protobuf.StringValue detail). */
const utf8 = new TextEncoder();

/** The golden vectors, in the order index.json lists them. */
export const vectorDefinitions: readonly VectorDefinition[] = [
  {
    name: "task-minimal",
    type: "dingo.v1.Task",
    description:
      "The smallest valid Task: only id, name and attempt 1; the request has all defaults, so the payload is empty and omitted.",
    message: { id: taskId, name: taskName, attempt: 1 },
  },
  {
    name: "task-full",
    type: "dingo.v1.Task",
    description:
      "A Task with every field set: payload, created time, reply address, report level, priority, queue, delay (not_before), deadline, timeout, a retry policy with a non-integer multiplier and jitter, result TTL, and four headers including W3C traceparent and tracestate (written sorted by key).",
    message: {
      id: taskId,
      name: taskName,
      payload: AddRequest.encode({ a: 2, b: 40 }).finish(),
      attempt: 1,
      createdAtMs,
      replyTo: "dingo.inbox.7f3a9c2e",
      reportLevel: ReportLevel.REPORT_LEVEL_NO_PROGRESS,
      priority: 7,
      queue: "math-high",
      notBeforeMs: createdAtMs + 1_500,
      deadlineMs: createdAtMs + 60_000,
      timeoutMs: 2_000,
      retry: { maxAttempts: 5, initialBackoffMs: 100, multiplier: 1.5, maxBackoffMs: 10_000, jitter: 0.2 },
      resultTtlMs: 86_400_000,
      // Deliberately not in key order: the generator sorts map entries.
      headers: { traceparent, tracestate, "x-request-id": "req-42", tenant: "acme" },
    },
  },
  {
    name: "task-retry-attempt",
    type: "dingo.v1.Task",
    description:
      "A Task as a worker re-publishes it for its third attempt: attempt 3, not_before set to the backoff time, report level FINAL, and a retry policy that sets only max_attempts.",
    message: {
      id: taskId,
      name: taskName,
      payload: AddRequest.encode({ a: 2, b: 40 }).finish(),
      attempt: 3,
      createdAtMs,
      replyTo: "dingo.inbox.7f3a9c2e",
      reportLevel: ReportLevel.REPORT_LEVEL_FINAL,
      queue: taskName,
      notBeforeMs: createdAtMs + 450,
      retry: { maxAttempts: 3 },
    },
  },
  {
    name: "task-empty-retry",
    type: "dingo.v1.Task",
    description:
      "A Task whose retry policy is present but has only default values: the empty RetryPolicy is still written (field 19, length 0) and must decode as present, not absent; report level NONE.",
    message: { id: taskId, name: taskName, attempt: 1, reportLevel: ReportLevel.REPORT_LEVEL_NONE, retry: {} },
  },
  {
    name: "task-unicode",
    type: "dingo.v1.Task",
    description:
      "A Task whose id, queue, reply address and header values hold multi-byte UTF-8 (2-, 3- and 4-byte sequences, including an emoji), so string lengths in bytes differ from character counts.",
    message: {
      id: "задача-ß-漢字-🦘",
      name: taskName,
      attempt: 1,
      replyTo: "inbox/Zürich-東京",
      queue: "очередь-🚀",
      // No empty header value or key: encoders disagree on such map entries (protoc's C++,
      // Java and Go write the empty field, ts-proto omits it), so no byte-exact vector can
      // hold one. Both forms decode the same.
      headers: { "user-name": "Zoë Ñúñez", greeting: "こんにちは 👋🏽" },
    },
  },
  {
    name: "task-large-payload",
    type: "dingo.v1.Task",
    description: `A Task with a ${largePayloadSize}-byte deterministic payload (an xorshift32 byte stream), so the payload's length prefix and the message are multi-byte varints.`,
    message: { id: taskId, name: taskName, payload: largePayload(), attempt: 1, createdAtMs },
  },
  {
    name: "task-int64-extremes",
    type: "dingo.v1.Task",
    description:
      "A Task with int64 times at 2^32, 2^40 and 2^53 - 1 (the largest the TypeScript runtime accepts) and uint32 fields at their maximum 4294967295 (5-byte varints).",
    message: {
      id: taskId,
      name: taskName,
      attempt: 4_294_967_295,
      createdAtMs: 4_294_967_296,
      priority: 4_294_967_295,
      notBeforeMs: 1_099_511_627_776,
      deadlineMs: Number.MAX_SAFE_INTEGER,
      timeoutMs: 4_294_967_295,
      resultTtlMs: 4_294_967_295,
    },
  },
  {
    name: "task-int64-negative",
    type: "dingo.v1.Task",
    description:
      "A Task with negative int64 times (-1 and -(2^53 - 1)): negative int64 values are written as 10-byte two's complement varints; valid on the wire though no real caller sends them.",
    message: { id: taskId, name: taskName, attempt: 1, createdAtMs: -1, notBeforeMs: -Number.MAX_SAFE_INTEGER },
  },
  {
    name: "report-sent",
    type: "dingo.v1.Report",
    description:
      "A SENT report as the caller's side makes it: attempt 0 and no worker id, so only task id, name, status and time are written.",
    message: { taskId, name: taskName, status: Status.STATUS_SENT, atMs: createdAtMs + 2 },
  },
  {
    name: "report-received",
    type: "dingo.v1.Report",
    description: "A RECEIVED report from a worker for attempt 1.",
    message: {
      taskId,
      name: taskName,
      status: Status.STATUS_RECEIVED,
      attempt: 1,
      workerId,
      atMs: createdAtMs + 1_510,
    },
  },
  {
    name: "report-progress",
    type: "dingo.v1.Report",
    description:
      "A PROGRESS report whose payload is a dingo.v1.Progress with percent 42.5, a message with multi-byte UTF-8 and an emoji, and an application detail (an example.v1.AddResponse).",
    message: {
      taskId,
      name: taskName,
      status: Status.STATUS_PROGRESS,
      attempt: 1,
      workerId,
      atMs: createdAtMs + 1_600,
    },
    progress: { percent: 42.5, message: "halfway — ½ done ⏳", detail: AddResponse.encode({ sum: 21 }).finish() },
  },
  {
    name: "report-progress-unknown",
    type: "dingo.v1.Report",
    description:
      "A PROGRESS report whose payload is a dingo.v1.Progress with percent -1 (unknown, as the reference worker sends it) and only a message.",
    message: {
      taskId,
      name: taskName,
      status: Status.STATUS_PROGRESS,
      attempt: 1,
      workerId,
      atMs: createdAtMs + 1_601,
    },
    progress: { percent: -1, message: "warming up" },
  },
  {
    name: "report-retry",
    type: "dingo.v1.Report",
    description:
      "A RETRY report for attempt 2: a retryable CODE_UNAVAILABLE failure and next_attempt_at_ms, the not_before of attempt 3.",
    message: {
      taskId,
      name: taskName,
      status: Status.STATUS_RETRY,
      error: { code: Code.CODE_UNAVAILABLE, message: "redis connection reset", retryable: true },
      attempt: 2,
      workerId,
      atMs: createdAtMs + 2_000,
      nextAttemptAtMs: createdAtMs + 2_450,
    },
  },
  {
    name: "report-success",
    type: "dingo.v1.Report",
    description: "A SUCCESS report whose payload is the method's response, an example.v1.AddResponse with sum 42.",
    message: {
      taskId,
      name: taskName,
      status: Status.STATUS_SUCCESS,
      payload: AddResponse.encode({ sum: 42 }).finish(),
      attempt: 3,
      workerId,
      atMs: createdAtMs + 2_600,
    },
  },
  {
    name: "report-failure",
    type: "dingo.v1.Report",
    description:
      "A FAILURE report with the highest code, CODE_UNAUTHENTICATED (16), not retryable, and three failure details (one with an empty value).",
    message: {
      taskId,
      name: taskName,
      status: Status.STATUS_FAILURE,
      error: {
        code: Code.CODE_UNAUTHENTICATED,
        message: "token expired",
        retryable: false,
        details: [
          { type: "example.v1.AddResponse", value: AddResponse.encode({ sum: -7 }).finish() },
          { type: "google.protobuf.StringValue", value: Uint8Array.of(0x0a, 0x05, ...utf8.encode("realm")) },
          { type: "google.protobuf.Empty", value: new Uint8Array(0) },
        ],
      },
      attempt: 1,
      workerId,
      atMs: createdAtMs + 1_700,
    },
  },
  {
    name: "report-failure-unicode",
    type: "dingo.v1.Report",
    description:
      "A FAILURE report with CODE_INVALID_ARGUMENT whose message and worker id hold multi-byte UTF-8 and an emoji.",
    message: {
      taskId,
      name: taskName,
      status: Status.STATUS_FAILURE,
      error: { code: Code.CODE_INVALID_ARGUMENT, message: "Ungültige Eingabe: «б» ≠ 数字 🙅" },
      attempt: 1,
      workerId: "работник-🦘",
      atMs: createdAtMs + 1_800,
    },
  },
  {
    name: "report-cancelled",
    type: "dingo.v1.Report",
    description: "A CANCELLED report as a caller broadcasts it: CODE_CANCELLED failure, attempt 0 and no worker id.",
    message: {
      taskId,
      name: taskName,
      status: Status.STATUS_CANCELLED,
      error: { code: Code.CODE_CANCELLED, message: "cancelled by caller" },
      atMs: createdAtMs + 3_000,
    },
  },
];
