import type { CallOptions } from "./call-options.js";
import { Caller, type CallSettings } from "./caller.js";
import { type ClientOptions, defaultMaxPayloadBytes } from "./client-options.js";
import { createEventBus } from "./event-bus.js";
import type { MessageInit } from "./message-codec.js";
import { randomUuid } from "./random-uuid.js";
import type { MethodDefinition, RequestOf, ResponseOf, ServiceDefinition } from "./service-definition.js";
import type { TaskCall } from "./task-call.js";
import { resolveTaskOptions } from "./task-options.js";
import type { Transport } from "./transport/transport.js";

/**
 * The typed client of a service: one function per method, taking the request message
 * (every field optional) and returning a {@link TaskCall} typed by the response.
 */
export type Client<S extends ServiceDefinition> = {
  readonly [M in keyof S["methods"]]: (
    request: MessageInit<RequestOf<S["methods"][M]>>,
    options?: CallOptions,
  ) => TaskCall<ResponseOf<S["methods"][M]>>;
};

/**
 * Creates the typed client of a generated service definition on a transport.
 *
 * @example
 * ```ts
 * const math = createClient(MathTasks, createMemoryTransport());
 * const { sum } = await math.add({ a: 1, b: 2 });
 * ```
 */
export function createClient<S extends ServiceDefinition>(
  service: S,
  transport: Transport,
  options: ClientOptions = {},
): Client<S> {
  const caller = Caller.of(transport);
  const settings: CallSettings = {
    events: options.events ?? createEventBus(),
    generateId: options.idGenerator ?? randomUuid,
    idsMayRepeat: options.idGenerator !== undefined,
    maxPayloadBytes: options.maxPayloadBytes ?? defaultMaxPayloadBytes,
    tracing: options.tracing,
  };
  if (options.events !== undefined) caller.attach(options.events);
  const client: Record<string, (request: MessageInit<unknown>, callOptions?: CallOptions) => TaskCall<unknown>> = {};
  for (const [localName, method] of Object.entries(service.methods) as [string, MethodDefinition<unknown, unknown>][]) {
    // Options are resolved once per method, not per call: calls only add their own.
    const resolved = resolveTaskOptions(method.taskName, service.defaults, method.options, options.taskOptions);
    client[localName] = (request, callOptions = {}) => {
      const taskOptions =
        callOptions.task === undefined
          ? resolved
          : resolveTaskOptions(
              method.taskName,
              service.defaults,
              method.options,
              options.taskOptions,
              callOptions.task,
            );
      return caller.call(method, taskOptions, request, callOptions, settings);
    };
  }
  return client as Client<S>;
}
