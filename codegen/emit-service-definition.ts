import type { TaskOptions } from "../src/task-options.js";
import type { ServiceModel } from "./file-model.js";
import { formatJsDoc } from "./format-js-doc.js";
import type { ImportPlan } from "./import-plan.js";

/**
 * The definition constant of a service: its names, codecs and options as a table,
 * `as const` so the mapped client and handler types see every method, and
 * `satisfies ServiceDefinition` so a mismatch with the runtime fails to compile here.
 */
export function emitServiceDefinition(service: ServiceModel, imports: ImportPlan): string {
  const doc = service.doc !== "" ? service.doc : `The ${service.typeName} task service.`;
  let out = formatJsDoc(doc);
  out += `export const ${service.name} = {\n`;
  out += `  typeName: ${JSON.stringify(service.typeName)},\n`;
  out += `  defaults: ${emitTaskOptions(service.defaults)},\n`;
  out += "  methods: {\n";
  for (const method of service.methods) {
    out += formatJsDoc(method.doc, "    ");
    out += `    ${method.key}: {\n`;
    out += `      name: ${JSON.stringify(method.name)},\n`;
    out += `      taskName: ${JSON.stringify(method.taskName)},\n`;
    out += `      requestType: ${JSON.stringify(method.requestType)},\n`;
    out += `      responseType: ${JSON.stringify(method.responseType)},\n`;
    out += `      request: ${imports.message(method.request)},\n`;
    out += `      response: ${imports.message(method.response)},\n`;
    out += `      options: ${emitTaskOptions(method.options)},\n`;
    out += "    },\n";
  }
  out += "  },\n";
  out += `} as const satisfies ${imports.runtime("ServiceDefinition")};\n`;
  return out;
}

/** An object literal of the options that are set, in field order: `{ timeoutMs: 2000 }`, or `{}`. */
export function emitTaskOptions(options: TaskOptions): string {
  const entries = Object.entries(options).map(([key, value]) => `${key}: ${JSON.stringify(value)}`);
  return entries.length === 0 ? "{}" : `{ ${entries.join(", ")} }`;
}
