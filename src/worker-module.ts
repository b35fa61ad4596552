import type { ServiceDefinition } from "./service-definition.js";
import type { ServiceHandlers } from "./service-handlers.js";

/**
 * One service a worker module serves: its generated definition and its handlers,
 * as `[definition, handlers]`.
 */
export type ServiceEntry<S extends ServiceDefinition = ServiceDefinition> = readonly [
  service: S,
  handlers: ServiceHandlers<S>,
];

/**
 * What `dingo worker <module>` runs: the module's default export, made with
 * {@link defineWorkerModule}. The CLI creates the transport and the worker from its
 * flags and serves every listed service on it; the module only says what to serve.
 */
export interface WorkerModule {
  /** The services to serve, each with its handlers. Task names must not repeat. */
  readonly services: readonly ServiceEntry[];
  /**
   * Called once after the worker has drained on shutdown (and before the transport
   * closes): release what the handlers use, such as database pools. Optional.
   */
  readonly close?: () => Promise<void> | void;
}

/** The argument of {@link defineWorkerModule}: each handler object typed by its service. */
export interface WorkerModuleInit<T extends readonly ServiceDefinition[]> {
  /** `[definition, handlers]` pairs; the handlers are checked against their own definition. */
  readonly services: { readonly [K in keyof T]: ServiceEntry<T[K]> };
  /** See {@link WorkerModule.close}. */
  readonly close?: () => Promise<void> | void;
}

/**
 * Declares the module `dingo worker <module>` loads: export its result as the
 * module's default export. It returns its argument; it exists so that each handler
 * object is typechecked against its own service definition.
 *
 * @example
 * ```ts
 * // workers/math.ts — run with `dingo worker workers/math.ts --transport redis://127.0.0.1:6379`
 * import { defineWorkerModule } from "dingo-ts";
 * import { MathTasks } from "../generated/example/v1/math_dingo.js";
 *
 * export default defineWorkerModule({
 *   services: [
 *     [MathTasks, {
 *       add: ({ a, b }) => ({ sum: a + b }),
 *       divide: ({ dividend, divisor }) => ({ quotient: dividend / divisor }),
 *       countPrimes: async ({ limit }) => ({ count: 0, largest: 0 }),
 *     }],
 *   ],
 * });
 * ```
 */
export function defineWorkerModule<const T extends readonly ServiceDefinition[]>(
  module: WorkerModuleInit<T>,
): WorkerModule {
  // Sound: ServiceEntry<T[K]> is a ServiceEntry of a narrower definition; handler
  // parameter types only narrow with it, and the worker pairs them with their own definition.
  return module as unknown as WorkerModule;
}
