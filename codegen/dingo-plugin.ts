import { readFileSync } from "node:fs";
import { create, createFileRegistry, maximumEdition, minimumEdition, protoInt64 } from "@bufbuild/protobuf";
import {
  type CodeGeneratorRequest,
  type CodeGeneratorResponse,
  CodeGeneratorResponse_Feature,
  CodeGeneratorResponseSchema,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import type { Plugin } from "@bufbuild/protoplugin";
import { CodegenError } from "./codegen-error.js";
import { emitDingoFile } from "./emit-dingo-file.js";
import { buildFileModel } from "./file-model.js";
import { parsePluginOptions } from "./plugin-options.js";
import { findTaskOptionExtensions } from "./read-task-options.js";

/** The version stamped into generated files: the dingo-ts package version. */
export const pluginVersion: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/**
 * `protoc-gen-dingo`: emits `<name>_dingo.ts` (service definition, handler interface,
 * client type) for every requested `.proto` file that declares services.
 *
 * `run()` is pure apart from reading nothing: it takes a CodeGeneratorRequest and
 * returns the response, so tests call it in-process. Problems with the input throw a
 * {@link CodegenError}; `runNodeJs` turns that into a one-line message and exit 1.
 *
 * @example
 * ```ts
 * runNodeJs(dingoPlugin); // the protoc-gen-dingo executable
 * ```
 */
export const dingoPlugin: Plugin = {
  name: "protoc-gen-dingo",
  version: `v${pluginVersion}`,
  run(request: CodeGeneratorRequest): CodeGeneratorResponse {
    const options = parsePluginOptions(request.parameter);
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: request.protoFile }));
    const extensions = findTaskOptionExtensions(registry);
    const files = request.fileToGenerate.map((name) => {
      const file = registry.getFile(name);
      if (file === undefined) throw new CodegenError(`${name}: not in the request's proto_file`);
      const model = buildFileModel(file, extensions);
      return model === undefined ? undefined : emitDingoFile(model, options, pluginVersion);
    });
    return create(CodeGeneratorResponseSchema, {
      supportedFeatures: protoInt64.parse(
        CodeGeneratorResponse_Feature.PROTO3_OPTIONAL | CodeGeneratorResponse_Feature.SUPPORTS_EDITIONS,
      ),
      minimumEdition,
      maximumEdition,
      file: files.filter((f) => f !== undefined).map((f) => ({ name: f.name, content: f.content })),
    });
  },
};
