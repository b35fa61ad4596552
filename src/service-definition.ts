import type { MessageCodec } from "./message-codec.js";
import type { TaskOptions } from "./task-options.js";

/**
 * One rpc of a task service, as `protoc-gen-dingo` emits it: names, codecs and options.
 * Generated code is a table of these; the runtime reads them and nothing else.
 */
export interface MethodDefinition<Req, Res> {
  /** The rpc's name in the `.proto` file, for example `"Add"`. */
  readonly name: string;
  /** The full task name on the wire: `"<package>.<Service>/<Method>"`. */
  readonly taskName: string;
  /** Fully-qualified protobuf type of the request, for example `"example.v1.AddRequest"`. */
  readonly requestType: string;
  /** Fully-qualified protobuf type of the response. */
  readonly responseType: string;
  /** Codec of the request message. */
  readonly request: MessageCodec<Req>;
  /** Codec of the response message. */
  readonly response: MessageCodec<Res>;
  /** The method's `(dingo.v1.task)` options. */
  readonly options: TaskOptions;
}

/**
 * A task service, as `protoc-gen-dingo` emits it: pass it to `createClient` and
 * `worker.serve`. `methods` is keyed by the lowerCamelCase method name.
 */
export interface ServiceDefinition {
  /** Fully-qualified service name, for example `"example.v1.MathTasks"`. */
  readonly typeName: string;
  /** The service's `(dingo.v1.defaults)` options. */
  readonly defaults: TaskOptions;
  /** The service's methods, keyed by lowerCamelCase name. */
  readonly methods: { readonly [method: string]: MethodDefinition<unknown, unknown> };
}

/** The request message type of a method definition. */
export type RequestOf<M> = M extends { readonly request: MessageCodec<infer Req> } ? Req : never;

/** The response message type of a method definition. */
export type ResponseOf<M> = M extends { readonly response: MessageCodec<infer Res> } ? Res : never;
