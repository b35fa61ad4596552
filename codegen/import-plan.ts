import { posix } from "node:path";
import type { FileModel } from "./file-model.js";
import type { TsProtoSymbol } from "./ts-proto-names.js";

/** The runtime types generated code refers to, all imported with `import type`. */
export type RuntimeType = "Client" | "HandlerContext" | "MessageInit" | "ServiceDefinition";

/** Local names decided for every imported symbol of one emitted file. */
export interface ImportPlan {
  /** The local name of a runtime type. */
  runtime(type: RuntimeType): string;
  /** The local name of a ts-proto message (interface and codec share it). */
  message(symbol: TsProtoSymbol): string;
  /** The import statements, one per module, in a stable order. */
  readonly lines: readonly string[];
}

const runtimeTypes: readonly RuntimeType[] = ["Client", "HandlerContext", "MessageInit", "ServiceDefinition"];

// Globals the emitted code uses by name; an import must not shadow them.
const usedGlobals = ["Promise"];

/**
 * Decides the imports of one emitted file: which module each symbol comes from and
 * under which local name.
 *
 * ts-proto modules are addressed relative to the emitted file (`./math_pb.js`,
 * `../../other/v1/types_pb.js`), with the `.js` suffix NodeNext resolution needs.
 * Names that would clash with each other, with the file's own exports or with used
 * globals get a `$1`, `$2`… alias, so any combination of packages compiles.
 */
export function planImports(model: FileModel, runtimeImport: string): ImportPlan {
  const taken = new Set<string>(usedGlobals);
  for (const service of model.services) {
    taken.add(service.name).add(service.handlersName).add(service.clientName);
  }
  const locals = new Map<string, string>(); // `${from}\0${name}` → local name
  const byModule = new Map<string, Map<string, string>>(); // from → name → local
  const alias = (name: string, from: string): string => {
    const id = `${from}\0${name}`;
    let local = locals.get(id);
    if (local === undefined) {
      local = name;
      for (let n = 1; taken.has(local); n++) local = `${name}$${n}`;
      taken.add(local);
      locals.set(id, local);
      const names = byModule.get(from) ?? new Map<string, string>();
      byModule.set(from, names.set(name, local));
    }
    return local;
  };
  const messageFrom = (symbol: TsProtoSymbol): string => {
    const path = posix.relative(posix.dirname(model.module), symbol.module);
    return `${path.startsWith("../") ? path : `./${path}`}.js`;
  };
  // Runtime types first so their names stay unaliased unless the file's own exports clash.
  const hasMethods = model.services.some((service) => service.methods.length > 0);
  for (const type of runtimeTypes) {
    // Unused imports fail user configs with noUnusedLocals, and a service may have no rpcs.
    if (hasMethods || type === "Client" || type === "ServiceDefinition") alias(type, runtimeImport);
  }
  for (const service of model.services) {
    for (const method of service.methods) {
      alias(method.request.name, messageFrom(method.request));
      alias(method.response.name, messageFrom(method.response));
    }
  }
  const statement = (from: string, names: Map<string, string>, typeOnly: boolean): string => {
    const specifiers = [...names]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, local]) => (name === local ? name : `${name} as ${local}`));
    return `import ${typeOnly ? "type " : ""}{ ${specifiers.join(", ")} } from ${JSON.stringify(from)};`;
  };
  const lines: string[] = [];
  const runtimeNames = byModule.get(runtimeImport);
  if (runtimeNames !== undefined) lines.push(statement(runtimeImport, runtimeNames, true));
  for (const from of [...byModule.keys()].filter((f) => f !== runtimeImport).sort()) {
    // Value imports: the codec constants are used at run time, the interfaces as types.
    lines.push(statement(from, byModule.get(from) ?? new Map(), false));
  }
  return {
    runtime: (type) => locals.get(`${runtimeImport}\0${type}`) ?? type,
    message: (symbol) => locals.get(`${messageFrom(symbol)}\0${symbol.name}`) ?? symbol.name,
    lines,
  };
}
