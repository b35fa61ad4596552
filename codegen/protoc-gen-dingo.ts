// The protoc-gen-dingo executable: a CodeGeneratorRequest on stdin, the response on stdout.
// bin/protoc-gen-dingo.js loads this file through tsx.
import { create } from "@bufbuild/protobuf";
import { CodeGeneratorResponseSchema } from "@bufbuild/protobuf/wkt";
import { runNodeJs } from "@bufbuild/protoplugin";
import { CodegenError } from "./codegen-error.js";
import { dingoPlugin } from "./dingo-plugin.js";

runNodeJs({
  ...dingoPlugin,
  run(request) {
    try {
      return dingoPlugin.run(request);
    } catch (error) {
      // The plugin protocol reports problems with the input in the response, and keeps a
      // non-zero exit for plugin failures: protoc and buf then print just our message.
      if (error instanceof CodegenError) return create(CodeGeneratorResponseSchema, { error: error.message });
      throw error;
    }
  },
});
