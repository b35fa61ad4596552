import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { WorkerModule } from "../worker-module.js";
import { CliError } from "./cli-error.js";

const shape = "export default defineWorkerModule({ services: [[MathTasks, handlers]] })";

/**
 * Imports the worker module at `path` (relative to the working directory; TypeScript
 * is fine, the CLI runs under tsx) and checks its shape: a default export made with
 * `defineWorkerModule`. Any failure is a {@link CliError} naming the module.
 */
export async function loadWorkerModule(path: string): Promise<WorkerModule> {
  const file = resolve(path);
  // tsx resolves `x.js` to `x.ts`, as TypeScript imports are written.
  if (!existsSync(file) && !(file.endsWith(".js") && existsSync(`${file.slice(0, -3)}.ts`))) {
    throw new CliError(`worker module not found: ${path}`);
  }
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new CliError(`cannot load worker module ${path}: ${message}`);
  }
  const module = loaded.default;
  if (typeof module !== "object" || module === null) {
    throw new CliError(`worker module ${path} has no default export; write \`${shape}\``);
  }
  const { services, close } = module as { services?: unknown; close?: unknown };
  if (!Array.isArray(services) || services.length === 0) {
    throw new CliError(`worker module ${path}: \`services\` must be a non-empty array of [definition, handlers]`);
  }
  services.forEach((entry: unknown, index) => {
    const [service, handlers] = Array.isArray(entry) ? (entry as unknown[]) : [];
    const isDefinition =
      typeof service === "object" &&
      service !== null &&
      typeof (service as { typeName?: unknown }).typeName === "string" &&
      typeof (service as { methods?: unknown }).methods === "object";
    if (!Array.isArray(entry) || entry.length !== 2 || !isDefinition || typeof handlers !== "object" || !handlers) {
      throw new CliError(
        `worker module ${path}: services[${index}] must be [definition, handlers] with a generated service definition`,
      );
    }
  });
  if (close !== undefined && typeof close !== "function") {
    throw new CliError(`worker module ${path}: \`close\` must be a function`);
  }
  return module as WorkerModule;
}
