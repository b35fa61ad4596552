import { existsSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import protobuf, { type Message, type Method, type Service, type Type } from "protobufjs";
import type { MessageCodec } from "../message-codec.js";
import type { MethodDefinition, ServiceDefinition } from "../service-definition.js";
import type { TaskOptions } from "../task-options.js";
import { CliError } from "./cli-error.js";

/** A task method found in `.proto` files, ready for `createClient`. */
export interface TaskMethod {
  /** A definition of the method's service holding only this method, under {@link key}. */
  readonly service: ServiceDefinition;
  /** The method's key in `service.methods` (and so in the client). */
  readonly key: string;
  /** The request message type. */
  readonly request: Type;
  /** The response message type. */
  readonly response: Type;
}

const require = createRequire(import.meta.url);
/** This package's `proto/`, where `dingo/v1/options.proto` lives. */
const dingoProtoDir = fileURLToPath(new URL("../../proto/", import.meta.url));

/**
 * Finds the method of a task name (`example.v1.MathTasks/Add`) in the `.proto` files
 * under `protoDir` and builds its service definition at run time, as `dingo gen` would
 * have: the same task name, queue and `(dingo.v1.defaults)` / `(dingo.v1.task)` options,
 * with protobufjs codecs. Errors are {@link CliError}s; an unknown task lists the known ones.
 */
export async function loadTaskMethod(protoDir: string, taskName: string): Promise<TaskMethod> {
  const match = /^\.?([A-Za-z_][\w.]*)\/([A-Za-z_]\w*)$/.exec(taskName);
  if (match === null) {
    throw new CliError(
      `"${taskName}" is not a task name; write <package>.<Service>/<Method>, e.g. example.v1.MathTasks/Add`,
    );
  }
  const [, serviceName = "", methodName = ""] = match;
  const root = await loadProtoRoot(protoDir);
  const found = root.lookup(serviceName);
  const service = found instanceof protobuf.Service ? found : undefined;
  const method = service?.methods[methodName];
  if (service === undefined || method === undefined) {
    const known = taskNames(root);
    const list = known.length === 0 ? "none" : known.slice(0, 20).join(", ") + (known.length > 20 ? ", …" : "");
    throw new CliError(`unknown task ${taskName} (tasks in ${protoDir}: ${list})`);
  }
  return taskMethod(service, method);
}

/** Loads and resolves every `.proto` file under `protoDir`. */
async function loadProtoRoot(protoDir: string): Promise<protobuf.Root> {
  const base = resolve(protoDir);
  if (!existsSync(base) || !statSync(base).isDirectory()) {
    throw new CliError(`proto directory not found: ${protoDir} (give it with --proto <dir>)`);
  }
  const files = protoFiles(base);
  if (files.length === 0) throw new CliError(`no .proto files under ${protoDir}`);
  const root = new protobuf.Root();
  // Imports are relative to the proto root, as for protoc and buf. dingo's own options
  // and descriptor.proto are found without the user copying them, as `dingo gen` does.
  root.resolvePath = (_origin, target) => {
    if (target.startsWith(base)) return target;
    const own = join(base, target);
    if (existsSync(own)) return own;
    if (target.startsWith("dingo/")) return join(dingoProtoDir, target);
    if (target === "google/protobuf/descriptor.proto")
      return require.resolve("protobufjs/google/protobuf/descriptor.proto");
    return own;
  };
  try {
    await root.load(
      files.map((file) => join(base, file)),
      { keepCase: false },
    );
    root.resolveAll();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new CliError(`cannot read the .proto files under ${protoDir}: ${message.replaceAll(base + sep, "")}`);
  }
  return root;
}

function protoFiles(base: string): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== "node_modules" && !entry.name.startsWith(".")) walk(path);
      else if (entry.isFile() && entry.name.endsWith(".proto")) files.push(relative(base, path));
    }
  };
  walk(base);
  return files.sort();
}

function taskNames(root: protobuf.Root): string[] {
  const names: string[] = [];
  const visit = (namespace: protobuf.NamespaceBase): void => {
    for (const nested of namespace.nestedArray) {
      if (nested instanceof protobuf.Service) {
        for (const method of nested.methodsArray) names.push(`${nested.fullName.slice(1)}/${method.name}`);
      } else if (nested instanceof protobuf.Namespace) {
        visit(nested);
      }
    }
  };
  visit(root);
  return names.sort();
}

function taskMethod(service: Service, method: Method): TaskMethod {
  if (method.requestStream || method.responseStream) {
    throw new CliError(`${service.fullName.slice(1)}/${method.name} is a streaming rpc, which cannot be a task`);
  }
  const request = method.resolvedRequestType as Type;
  const response = method.resolvedResponseType as Type;
  const key = method.name.charAt(0).toLowerCase() + method.name.slice(1);
  const typeName = service.fullName.slice(1);
  const definition: MethodDefinition<Message, Message> = {
    name: method.name,
    taskName: `${typeName}/${method.name}`,
    requestType: request.fullName.slice(1),
    responseType: response.fullName.slice(1),
    request: codecOf(request),
    response: codecOf(response),
    options: taskOptionsOf(method.options, "dingo.v1.task"),
  };
  return {
    service: {
      typeName,
      defaults: taskOptionsOf(service.options, "dingo.v1.defaults"),
      methods: { [key]: definition as MethodDefinition<unknown, unknown> },
    },
    key,
    request,
    response,
  };
}

/** protobufjs codecs behind the interface ts-proto's codecs have. */
function codecOf(type: Type): MessageCodec<Message> {
  return {
    encode: (message, writer = new BinaryWriter()) => writer.raw(type.encode(message).finish()),
    decode: (input) => type.decode(input),
    fromPartial: (init) => type.fromObject(init as Record<string, unknown>),
  };
}

const taskOptionFields: ReadonlySet<keyof TaskOptions> = new Set<keyof TaskOptions>([
  "queue",
  "maxAttempts",
  "initialBackoffMs",
  "backoffMultiplier",
  "maxBackoffMs",
  "backoffJitter",
  "timeoutMs",
  "priority",
  "resultTtlMs",
]);

/**
 * Reads `(dingo.v1.task)` or `(dingo.v1.defaults)` from protobufjs's flattened options
 * (`"(dingo.v1.task).timeout_ms": 2000`, whichever syntax the file used).
 */
function taskOptionsOf(options: Record<string, unknown> | undefined, extension: string): TaskOptions {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options ?? {})) {
    const field = /^\(\.?([\w.]+)\)\.(\w+)$/.exec(key);
    if (field?.[1] !== extension || field[2] === undefined) continue;
    const name = protobuf.util.camelCase(field[2]) as keyof TaskOptions;
    if (taskOptionFields.has(name)) result[name] = value;
  }
  return result as TaskOptions;
}
