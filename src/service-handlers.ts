import type { HandlerContext } from "./handler-context.js";
import type { MessageInit } from "./message-codec.js";
import type { RequestOf, ResponseOf, ServiceDefinition } from "./service-definition.js";

/**
 * The handlers of a service: one function per method, taking the decoded request and
 * a {@link HandlerContext} and returning the response (every field optional), or
 * throwing (a `TaskError` to choose the code).
 */
export type ServiceHandlers<S extends ServiceDefinition> = {
  readonly [M in keyof S["methods"]]: (
    request: RequestOf<S["methods"][M]>,
    context: HandlerContext,
  ) => Promise<MessageInit<ResponseOf<S["methods"][M]>>> | MessageInit<ResponseOf<S["methods"][M]>>;
};
