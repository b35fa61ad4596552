import type { ServiceModel } from "./file-model.js";
import { formatJsDoc } from "./format-js-doc.js";
import type { ImportPlan } from "./import-plan.js";

/**
 * The handler interface of a service: what a worker implements. It spells out what
 * `ServiceHandlers<typeof Service>` computes, so editors show real signatures and
 * implementations can name it (`const handlers: MathTasksHandlers = { … }`).
 */
export function emitHandlerInterface(service: ServiceModel, imports: ImportPlan): string {
  const context = imports.runtime("HandlerContext");
  const init = imports.runtime("MessageInit");
  let out = formatJsDoc(
    `Handlers of the ${service.typeName} tasks: implement them and pass them to\n\`worker.serve(${service.name}, handlers)\`.`,
  );
  out += `export interface ${service.handlersName} {\n`;
  service.methods.forEach((method, i) => {
    if (i > 0) out += "\n";
    out += formatJsDoc(method.doc, "  ");
    const request = imports.message(method.request);
    const response = `${init}<${imports.message(method.response)}>`;
    out += `  ${method.key}(request: ${request}, context: ${context}): Promise<${response}> | ${response};\n`;
  });
  out += "}\n";
  return out;
}
