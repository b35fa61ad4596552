import {
  type DescExtension,
  type DescMethod,
  type DescService,
  getOption,
  hasOption,
  type Registry,
} from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import type { TaskOptions } from "../src/task-options.js";
import { CodegenError } from "./codegen-error.js";

/** The two extensions of `proto/dingo/v1/options.proto`. */
export interface TaskOptionExtensions {
  /** `(dingo.v1.task)` on `google.protobuf.MethodOptions`. */
  readonly task: DescExtension | undefined;
  /** `(dingo.v1.defaults)` on `google.protobuf.ServiceOptions`. */
  readonly defaults: DescExtension | undefined;
}

type Check = (value: number | string) => string | undefined;

/** How one `dingo.v1.TaskOptions` field maps to {@link TaskOptions}, and what values it accepts. */
interface FieldRule {
  readonly key: keyof TaskOptions;
  readonly type: "string" | "number";
  readonly check?: Check;
}

// Keyed by proto field name; the order here is the order of keys in emitted objects.
const fieldRules: Readonly<Record<string, FieldRule>> = {
  queue: {
    key: "queue",
    type: "string",
    // Brokers use the queue name in keys and routing; whitespace there is always a typo.
    check: (v) =>
      /[\s\p{Cc}]/u.test(String(v))
        ? `must not contain whitespace or control characters, got ${JSON.stringify(v)}`
        : undefined,
  },
  max_attempts: { key: "maxAttempts", type: "number" },
  initial_backoff_ms: { key: "initialBackoffMs", type: "number" },
  backoff_multiplier: {
    key: "backoffMultiplier",
    type: "number",
    check: (v) => (Number(v) >= 1 && Number.isFinite(v) ? undefined : `must be >= 1, got ${v}`),
  },
  max_backoff_ms: { key: "maxBackoffMs", type: "number" },
  backoff_jitter: {
    key: "backoffJitter",
    type: "number",
    check: (v) => (Number(v) >= 0 && Number(v) <= 1 ? undefined : `must be between 0 and 1, got ${v}`),
  },
  timeout_ms: { key: "timeoutMs", type: "number" },
  priority: { key: "priority", type: "number", check: (v) => (Number(v) <= 9 ? undefined : `must be 0..9, got ${v}`) },
  result_ttl_ms: { key: "resultTtlMs", type: "number" },
};

/**
 * Finds `(dingo.v1.task)` and `(dingo.v1.defaults)` in the files of the request.
 *
 * They are absent when no file imports `dingo/v1/options.proto`; then no element can
 * set them either. An extension with the right name but the wrong shape means a foreign
 * or incompatible `options.proto` and is an error rather than silently ignored.
 */
export function findTaskOptionExtensions(registry: Registry): TaskOptionExtensions {
  return {
    task: checkExtension(registry.getExtension("dingo.v1.task"), "google.protobuf.MethodOptions"),
    defaults: checkExtension(registry.getExtension("dingo.v1.defaults"), "google.protobuf.ServiceOptions"),
  };
}

function checkExtension(ext: DescExtension | undefined, extendee: string): DescExtension | undefined {
  if (ext === undefined) return undefined;
  if (
    ext.extendee.typeName !== extendee ||
    ext.fieldKind !== "message" ||
    ext.message.typeName !== "dingo.v1.TaskOptions"
  ) {
    throw new CodegenError(
      `${ext.file.proto.name}: extension ${ext.typeName} must be a dingo.v1.TaskOptions extending ${extendee}; is this the dingo options.proto?`,
    );
  }
  return ext;
}

/**
 * Reads the task options set on a service (`(dingo.v1.defaults)`) or a method
 * (`(dingo.v1.task)`), validated, with only the fields that are set.
 *
 * Zero values are "unset" in proto3 and are left out, as the runtime treats them.
 * Throws a {@link CodegenError} naming file, element and field for invalid values.
 */
export function readTaskOptions(element: DescService | DescMethod, extensions: TaskOptionExtensions): TaskOptions {
  const ext = element.kind === "service" ? extensions.defaults : extensions.task;
  if (ext === undefined || !hasOption(element, ext)) return {};
  const where = `${fileOf(element)}: ${element.kind === "service" ? element.typeName : `${element.parent.typeName}.${element.name}`}: (${ext.typeName})`;
  if (ext.fieldKind !== "message") return {};
  const value = reflect(ext.message, getOption(element, ext) as never);
  const result: Record<string, number | string> = {};
  const byName = new Map(ext.message.fields.map((field) => [field.name, field]));
  for (const field of ext.message.fields) {
    if (value.isSet(field) && fieldRules[field.name] === undefined) {
      throw new CodegenError(`${where} field ${field.name} is not known to this protoc-gen-dingo; update dingo-ts`);
    }
  }
  for (const [name, rule] of Object.entries(fieldRules)) {
    const field = byName.get(name);
    if (field === undefined || !value.isSet(field)) continue;
    const v = value.get(field);
    if (typeof v !== rule.type)
      throw new CodegenError(`${where} ${name} must be a ${rule.type}; is this the dingo options.proto?`);
    const problem = rule.check?.(v as number | string);
    if (problem !== undefined) throw new CodegenError(`${where} ${name} ${problem}`);
    result[rule.key] = v as number | string;
  }
  return result as TaskOptions;
}

function fileOf(element: DescService | DescMethod): string {
  return (element.kind === "service" ? element.file : element.parent.file).proto.name;
}
