import type { ServiceModel } from "./file-model.js";
import { formatJsDoc } from "./format-js-doc.js";
import type { ImportPlan } from "./import-plan.js";

/** The client type of a service: a name for what `createClient(Service, transport)` returns. */
export function emitClientType(service: ServiceModel, imports: ImportPlan): string {
  let out = formatJsDoc(
    `Typed client of the ${service.typeName} tasks, as \`createClient(${service.name}, transport)\` returns it.`,
  );
  out += `export type ${service.clientName} = ${imports.runtime("Client")}<typeof ${service.name}>;\n`;
  return out;
}
