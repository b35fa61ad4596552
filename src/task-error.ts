import { type Code, isCode, isTransientCode } from "./code.js";

/** A structured detail of a {@link TaskError}: a protobuf message type name and its binary encoding. */
export interface ErrorDetail {
  /** Fully-qualified protobuf message type, for example `"google.rpc.RetryInfo"`. */
  readonly type: string;
  /** The message, protobuf binary. */
  readonly value: Uint8Array;
}

/** Options of a {@link TaskError}. */
export interface TaskErrorOptions {
  /** Whether another attempt may succeed. Default: true for transient codes (unavailable, internal, …). */
  readonly retryable?: boolean;
  /** Structured details that travel to the caller. */
  readonly details?: readonly ErrorDetail[];
  /** The underlying error. Stays in this process; it is not sent over the wire. */
  readonly cause?: unknown;
}

/**
 * The one error type of dingo: a canonical {@link Code}, a message, whether a retry
 * may help, and structured details.
 *
 * A handler throws it (or anything else, which becomes `unknown`) and the caller
 * receives it back, with the same code, message and details, from the awaited call.
 *
 * @example
 * ```ts
 * throw new TaskError("divisor must not be zero", "invalid_argument");
 * ```
 */
export class TaskError extends Error {
  override readonly name = "TaskError";
  /** The canonical code. */
  readonly code: Code;
  /** The message without the `[code]` prefix that `message` carries. */
  readonly rawMessage: string;
  /** Whether another attempt may succeed. */
  readonly retryable: boolean;
  /** Structured details. */
  readonly details: readonly ErrorDetail[];

  constructor(message: string, code: Code = "unknown", options: TaskErrorOptions = {}) {
    super(message.length > 0 ? `[${code}] ${message}` : `[${code}]`, { cause: options.cause });
    this.code = code;
    this.rawMessage = message;
    this.retryable = options.retryable ?? isTransientCode(code);
    this.details = options.details ?? [];
  }

  /**
   * Turns anything caught into a TaskError: a TaskError is returned as is, an
   * `AbortError` becomes `cancelled` (or the abort reason, if that is a TaskError,
   * such as a deadline), an `Error` keeps its message, anything else is stringified.
   */
  static from(reason: unknown, code: Code = "unknown"): TaskError {
    if (reason instanceof TaskError) return reason;
    if (reason instanceof Error) {
      if (reason.name === "AbortError" || reason.name === "TimeoutError") {
        const nested = reason.cause instanceof TaskError ? reason.cause : undefined;
        if (nested) return nested;
        const abortCode = reason.name === "TimeoutError" ? "deadline_exceeded" : "cancelled";
        return new TaskError(reason.message, abortCode, { cause: reason });
      }
      const carried = (reason as { code?: unknown }).code;
      return new TaskError(reason.message, isCode(carried) ? carried : code, { cause: reason });
    }
    return new TaskError(String(reason), code, { cause: reason });
  }
}
