import protobuf, { type Field, type Message, type Type } from "protobufjs";
import { CliError } from "./cli-error.js";

const int32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };
const uint32 = { min: 0, max: 2 ** 32 - 1 };
const int64 = { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
const uint64 = { min: 0, max: Number.MAX_SAFE_INTEGER };
const integerRanges: Readonly<Record<string, { readonly min: number; readonly max: number }>> = {
  int32,
  sint32: int32,
  sfixed32: int32,
  uint32,
  fixed32: uint32,
  int64,
  sint64: int64,
  sfixed64: int64,
  uint64,
  fixed64: uint64,
};

/** A problem with one field of the request; `path` names it (`inner.items[2].x`). */
class FieldError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Parses a JSON request (proto3 JSON mapping: lowerCamelCase or original field names,
 * enums by name or number, 64-bit integers as numbers or decimal strings, bytes as
 * base64, `null` for the default) into a message of `type`, strictly: unknown fields,
 * wrong types and out-of-range integers are {@link CliError}s naming the field, where
 * protobufjs's `fromObject` alone would drop or coerce them.
 */
export function requestFromJson(type: Type, json: string): Message {
  const typeName = type.fullName.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new CliError(`the request is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isObject(value)) throw new CliError(`the request must be a JSON object (${typeName}), got ${json.trim()}`);
  let normalized: Record<string, unknown>;
  try {
    normalized = normalizeMessage(type, value, "");
  } catch (error) {
    if (error instanceof FieldError) throw new CliError(`invalid ${typeName}: ${error.path}: ${error.message}`);
    throw error;
  }
  // What is left to check (strings, booleans, floats, bytes, oneofs) protobufjs's verify
  // does, naming the field as well.
  const problem = type.verify(normalized);
  if (problem !== null) throw new CliError(`invalid ${typeName}: ${problem}`);
  return type.fromObject(normalized);
}

function normalizeMessage(type: Type, value: Record<string, unknown>, path: string): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, fieldValue] of Object.entries(value)) {
    const field = type.fields[key] ?? type.fields[protobuf.util.camelCase(key)];
    if (field === undefined) {
      const known = type.fieldsArray.map((candidate) => candidate.name).join(", ") || "none";
      throw new FieldError(`${path}${key}`, `unknown field (fields of ${type.fullName.slice(1)}: ${known})`);
    }
    if (fieldValue === null) continue; // proto3 JSON: null is the default value
    result[field.name] = normalizeField(field.resolve(), fieldValue, `${path}${field.name}`);
  }
  return result;
}

function normalizeField(field: Field, value: unknown, path: string): unknown {
  if (field.map) {
    if (!isObject(value)) throw wrongType(path, "an object (map)", value);
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, normalizeValue(field, item, `${path}[${JSON.stringify(key)}]`)]),
    );
  }
  if (field.repeated) {
    if (!Array.isArray(value)) throw wrongType(path, "an array", value);
    return value.map((item: unknown, index) => normalizeValue(field, item, `${path}[${index}]`));
  }
  return normalizeValue(field, value, path);
}

function normalizeValue(field: Field, value: unknown, path: string): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) {
    if (!isObject(value)) throw wrongType(path, `an object (${resolved.fullName.slice(1)})`, value);
    return normalizeMessage(resolved, value, `${path}.`);
  }
  if (resolved instanceof protobuf.Enum) {
    const names = Object.keys(resolved.values);
    if (typeof value === "string") {
      const number = resolved.values[value];
      if (number === undefined) throw wrongType(path, `one of ${names.join(", ")}`, value);
      return number;
    }
    if (!Number.isInteger(value)) throw wrongType(path, `an enum name (${names.join(", ")}) or number`, value);
    return value;
  }
  const range = integerRanges[field.type];
  if (range !== undefined) {
    // proto3 JSON writes 64-bit integers as strings; 32-bit ones may be strings too.
    const number = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
    if (typeof number !== "number" || !Number.isInteger(number)) {
      throw wrongType(path, `an integer (${field.type})`, value);
    }
    if (number < range.min || number > range.max) {
      throw new FieldError(
        path,
        `${JSON.stringify(value)} is out of range for ${field.type} (${range.min}..${range.max})`,
      );
    }
    return number;
  }
  return value;
}

function wrongType(path: string, expected: string, value: unknown): FieldError {
  return new FieldError(path, `${expected} expected, got ${JSON.stringify(value)}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
