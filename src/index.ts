/**
 * dingo: schema-first, typed tasks. Declare tasks as protobuf services, generate with
 * `dingo gen`, then `createClient` to call them and `createWorker` to serve them over
 * a {@link Transport}.
 *
 * @packageDocumentation
 */
export type { CallOptions, ReportSelection } from "./call-options.js";
export { type Client, createClient } from "./client.js";
export type { ClientOptions } from "./client-options.js";
export { type Code, codes } from "./code.js";
export type { DingoEvent, DingoEventListener } from "./dingo-event.js";
export type { ProgressUpdate, TaskStatus } from "./envelope.js";
export { createEventBus, type EventBus } from "./event-bus.js";
export type { HandlerContext } from "./handler-context.js";
export { lookupResult } from "./lookup-result.js";
export type { MessageCodec, MessageInit } from "./message-codec.js";
export type { MethodDefinition, RequestOf, ResponseOf, ServiceDefinition } from "./service-definition.js";
export type { ServiceHandlers } from "./service-handlers.js";
export type { TaskCall } from "./task-call.js";
export { type ErrorDetail, TaskError, type TaskErrorOptions } from "./task-error.js";
export type { TaskOptions } from "./task-options.js";
export type { FinalReport, ReportBase, TaskReport } from "./task-report.js";
export type { Tracing } from "./tracing.js";
export { createMemoryTransport, type MemoryTransportOptions } from "./transport/memory-transport.js";
export type { QueueAdmin, QueueStats, RequeueResult } from "./transport/queue-admin.js";
export type {
  Claim,
  ConsumeOptions,
  Consumer,
  DeadLetter,
  Delivery,
  Inbox,
  InboxOptions,
  OutgoingTask,
  ReportRouter,
  ResultStore,
  Settlement,
  Subscription,
  TaskBroker,
  Transport,
} from "./transport/transport.js";
export { createWorker, type Worker } from "./worker.js";
export {
  defineWorkerModule,
  type ServiceEntry,
  type WorkerModule,
  type WorkerModuleInit,
} from "./worker-module.js";
export { defaultClockSkewMs, type WorkerCloseOptions, type WorkerOptions } from "./worker-options.js";
