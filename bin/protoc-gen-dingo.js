#!/usr/bin/env node
// protoc-gen-dingo: the protoc/buf plugin. The plugin is TypeScript; tsx compiles it on load.
import { register } from "tsx/esm/api";

register({ tsconfig: new URL("../tsconfig.json", import.meta.url).pathname });
await import("../codegen/protoc-gen-dingo.ts");
