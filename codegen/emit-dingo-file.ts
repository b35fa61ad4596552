import { emitClientType } from "./emit-client-type.js";
import { emitHandlerInterface } from "./emit-handler-interface.js";
import { emitPreamble } from "./emit-preamble.js";
import { emitServiceDefinition } from "./emit-service-definition.js";
import type { FileModel } from "./file-model.js";
import { planImports } from "./import-plan.js";
import type { PluginOptions } from "./plugin-options.js";

/** An emitted file: path relative to the output directory, and content. */
export interface EmittedFile {
  readonly name: string;
  readonly content: string;
}

/** The `<name>_dingo.ts` of one `.proto` file: preamble, imports, then per service its definition, handlers and client. */
export function emitDingoFile(model: FileModel, options: PluginOptions, pluginVersion: string): EmittedFile {
  const imports = planImports(model, options.runtimeImport);
  const parts = [emitPreamble(model.protoPath, pluginVersion), `${imports.lines.join("\n")}\n`];
  for (const service of model.services) {
    parts.push(
      emitServiceDefinition(service, imports),
      emitHandlerInterface(service, imports),
      emitClientType(service, imports),
    );
  }
  return { name: `${model.module}.ts`, content: parts.join("\n") };
}
