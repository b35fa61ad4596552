import type { DescFile, DescMethod, DescService } from "@bufbuild/protobuf";
import { getComments, safeIdentifier } from "@bufbuild/protoplugin";
import type { TaskOptions } from "../src/task-options.js";
import { CodegenError } from "./codegen-error.js";
import { readTaskOptions, type TaskOptionExtensions } from "./read-task-options.js";
import { type TsProtoSymbol, tsProtoSymbol } from "./ts-proto-names.js";

/** One rpc, as the emitters need it. Plain data: everything is decided and validated here. */
export interface MethodModel {
  /** Key in `methods`, the client and the handlers: lowerCamelCase, e.g. `countPrimes`. */
  readonly key: string;
  /** The rpc name in the `.proto`, e.g. `CountPrimes`. */
  readonly name: string;
  /** `<package>.<Service>/<Method>`. */
  readonly taskName: string;
  readonly requestType: string;
  readonly responseType: string;
  readonly request: TsProtoSymbol;
  readonly response: TsProtoSymbol;
  readonly options: TaskOptions;
  /** JSDoc text (comments and tags), empty if there is nothing to say. */
  readonly doc: string;
}

/** One service, as the emitters need it. */
export interface ServiceModel {
  /** Name of the exported definition constant, e.g. `MathTasks`. */
  readonly name: string;
  /** Name of the handler interface, e.g. `MathTasksHandlers`. */
  readonly handlersName: string;
  /** Name of the client type, e.g. `MathTasksClient`. */
  readonly clientName: string;
  /** Fully-qualified service name, e.g. `example.v1.MathTasks`. */
  readonly typeName: string;
  readonly defaults: TaskOptions;
  readonly doc: string;
  readonly methods: readonly MethodModel[];
}

/** What `protoc-gen-dingo` emits for one `.proto` file. */
export interface FileModel {
  /** The `.proto` path, e.g. `example/v1/math.proto`. */
  readonly protoPath: string;
  /** The emitted module without extension, e.g. `example/v1/math_dingo`. */
  readonly module: string;
  readonly services: readonly ServiceModel[];
}

/**
 * Builds the model of one file, or `undefined` if it declares no services.
 * Throws a {@link CodegenError} naming file, service and method for anything that
 * cannot be a task (streaming rpcs, invalid option values, clashing names).
 */
export function buildFileModel(file: DescFile, extensions: TaskOptionExtensions): FileModel | undefined {
  if (file.services.length === 0) return undefined;
  return {
    protoPath: file.proto.name,
    module: `${file.proto.name.replace(/\.proto$/, "")}_dingo`,
    services: file.services.map((service) => buildServiceModel(service, extensions)),
  };
}

function buildServiceModel(service: DescService, extensions: TaskOptionExtensions): ServiceModel {
  const keys = new Map<string, string>();
  const methods = service.methods.map((method) => {
    const model = buildMethodModel(method, extensions);
    const clash = keys.get(model.key);
    if (clash !== undefined) {
      throw new CodegenError(
        `${service.file.proto.name}: ${service.typeName}.${method.name}: rpc names ${clash} and ${method.name} both become "${model.key}"`,
      );
    }
    keys.set(model.key, method.name);
    return model;
  });
  return {
    name: safeIdentifier(service.name),
    handlersName: `${service.name}Handlers`,
    clientName: `${service.name}Client`,
    typeName: service.typeName,
    defaults: readTaskOptions(service, extensions),
    doc: docText(service),
    methods,
  };
}

function buildMethodModel(method: DescMethod, extensions: TaskOptionExtensions): MethodModel {
  if (method.methodKind !== "unary") {
    throw new CodegenError(
      `${method.parent.file.proto.name}: ${method.parent.typeName}.${method.name}: ` +
        `${method.methodKind.replace("_", " ")} rpcs cannot be tasks; a task takes one request and returns one response`,
    );
  }
  if (method.localName === "__proto__") {
    // As an object literal key it would set the prototype instead of defining a method.
    throw new CodegenError(
      `${method.parent.file.proto.name}: ${method.parent.typeName}.${method.name}: rpc name is reserved`,
    );
  }
  return {
    // protobuf-es's localName: first letter lowered, escaped where it would clash with
    // Object.prototype members (`toString` → `toString$`). connect-es uses the same keys.
    key: method.localName,
    name: method.name,
    taskName: `${method.parent.typeName}/${method.name}`,
    requestType: method.input.typeName,
    responseType: method.output.typeName,
    request: tsProtoSymbol(method.input),
    response: tsProtoSymbol(method.output),
    options: readTaskOptions(method, extensions),
    doc: docText(method),
  };
}

/** Leading and trailing comments of an element, and `@deprecated` if it is. */
function docText(desc: DescService | DescMethod): string {
  const comments = getComments(desc);
  const parts = [comments.leading, comments.trailing]
    .filter((c): c is string => c !== undefined && c.trim() !== "")
    // protoc keeps the space after `//`; drop one leading space per line like protoc-gen-es.
    .map((c) =>
      c
        .replace(/\n$/, "")
        .split("\n")
        .map((line) => (line.startsWith(" ") ? line.slice(1) : line))
        .join("\n"),
    );
  if (desc.deprecated) parts.push("@deprecated");
  return parts.join("\n\n");
}
