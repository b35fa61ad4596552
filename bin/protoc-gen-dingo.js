#!/usr/bin/env node
// protoc-gen-dingo: the protoc/buf plugin. The plugin is TypeScript; tsx compiles it on load.
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) });
await import("../codegen/protoc-gen-dingo.ts");
