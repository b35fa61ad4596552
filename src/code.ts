import { Code as WireCode } from "../generated/dingo/v1/envelope_pb.js";

/**
 * Canonical error code of a failed task: the gRPC / Connect code set, spelled as
 * lower-case strings so they read well in `switch` statements and logs.
 *
 * The wire carries gRPC's numbers (`dingo.v1.Code`); {@link codeToWire} and
 * {@link codeFromWire} are the only translation between the two.
 */
export type Code =
  | "cancelled"
  | "unknown"
  | "invalid_argument"
  | "deadline_exceeded"
  | "not_found"
  | "already_exists"
  | "permission_denied"
  | "resource_exhausted"
  | "failed_precondition"
  | "aborted"
  | "out_of_range"
  | "unimplemented"
  | "internal"
  | "unavailable"
  | "data_loss"
  | "unauthenticated";

const toWire: Readonly<Record<Code, WireCode>> = {
  cancelled: WireCode.CODE_CANCELLED,
  unknown: WireCode.CODE_UNKNOWN,
  invalid_argument: WireCode.CODE_INVALID_ARGUMENT,
  deadline_exceeded: WireCode.CODE_DEADLINE_EXCEEDED,
  not_found: WireCode.CODE_NOT_FOUND,
  already_exists: WireCode.CODE_ALREADY_EXISTS,
  permission_denied: WireCode.CODE_PERMISSION_DENIED,
  resource_exhausted: WireCode.CODE_RESOURCE_EXHAUSTED,
  failed_precondition: WireCode.CODE_FAILED_PRECONDITION,
  aborted: WireCode.CODE_ABORTED,
  out_of_range: WireCode.CODE_OUT_OF_RANGE,
  unimplemented: WireCode.CODE_UNIMPLEMENTED,
  internal: WireCode.CODE_INTERNAL,
  unavailable: WireCode.CODE_UNAVAILABLE,
  data_loss: WireCode.CODE_DATA_LOSS,
  unauthenticated: WireCode.CODE_UNAUTHENTICATED,
};

const fromWire = new Map<number, Code>(Object.entries(toWire).map(([code, wire]) => [wire, code as Code]));

/** Every canonical code, in gRPC number order. */
export const codes: readonly Code[] = [...fromWire.values()];

/** The `dingo.v1.Code` number of a code. */
export function codeToWire(code: Code): WireCode {
  return toWire[code];
}

/** The code of a `dingo.v1.Code` number; numbers this version does not know read as `unknown`. */
export function codeFromWire(wire: number): Code {
  return fromWire.get(wire) ?? "unknown";
}

/** Whether `value` is one of the canonical code strings. */
export function isCode(value: unknown): value is Code {
  return typeof value === "string" && Object.hasOwn(toWire, value);
}

/**
 * Codes that describe a condition which may pass, so another attempt can succeed.
 * A {@link TaskError} is retryable by default exactly when its code is in this set.
 */
const transientCodes: ReadonlySet<Code> = new Set<Code>([
  "unknown",
  "deadline_exceeded",
  "resource_exhausted",
  "aborted",
  "internal",
  "unavailable",
]);

/** Whether a failure with this code is retried unless the error says otherwise. */
export function isTransientCode(code: Code): boolean {
  return transientCodes.has(code);
}
