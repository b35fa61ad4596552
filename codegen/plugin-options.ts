import { CodegenError } from "./codegen-error.js";

/** The options of `protoc-gen-dingo`, as given in `opt:` (buf) or `--dingo_opt` (protoc). */
export interface PluginOptions {
  /**
   * Module specifier the generated code imports the runtime types from.
   * Default `dingo-ts`; set it when the runtime is vendored or re-exported.
   */
  readonly runtimeImport: string;
}

/** The options used when none are given. */
export const defaultPluginOptions: PluginOptions = { runtimeImport: "dingo-ts" };

/**
 * Parses the plugin parameter (`key=value,key=value`).
 *
 * Unknown keys, repeated keys and empty values are errors: a misspelled option that is
 * silently ignored produces code that looks right and is not.
 */
export function parsePluginOptions(parameter: string): PluginOptions {
  let runtimeImport: string | undefined;
  for (const pair of parameter.split(",")) {
    if (pair.trim() === "") continue;
    const eq = pair.indexOf("=");
    const key = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    const value = eq < 0 ? "" : pair.slice(eq + 1).trim();
    switch (key) {
      case "runtime_import":
        if (runtimeImport !== undefined) throw new CodegenError(`option "${key}" is given more than once`);
        if (value === "") throw new CodegenError(`option "${key}" needs a value, e.g. ${key}=dingo-ts`);
        runtimeImport = value;
        break;
      default:
        throw new CodegenError(`unknown option "${key}" (known: runtime_import)`);
    }
  }
  return { runtimeImport: runtimeImport ?? defaultPluginOptions.runtimeImport };
}
