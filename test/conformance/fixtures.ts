import { BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  AddRequest,
  AddResponse,
  CountPrimesRequest,
  CountPrimesResponse,
  DivideRequest,
  DivideResponse,
} from "../../generated/example/v1/math_pb.js";
import type { MessageCodec, ServiceDefinition, ServiceHandlers, TaskOptions } from "../../src/index.js";

/**
 * Service definitions for the conformance suite, written as `protoc-gen-dingo` would
 * emit them, with queue names unique to one test so that suites can share a broker.
 */
export function conformanceServices(suffix: string, defaults: TaskOptions = {}) {
  const queue = `conformance-${suffix}`;
  const Tasks = {
    typeName: "dingo.conformance.v1.Tasks",
    defaults: { queue, ...defaults },
    methods: {
      add: {
        name: "Add",
        taskName: "dingo.conformance.v1.Tasks/Add",
        requestType: "example.v1.AddRequest",
        responseType: "example.v1.AddResponse",
        request: AddRequest,
        response: AddResponse,
        options: {},
      },
      divide: {
        name: "Divide",
        taskName: "dingo.conformance.v1.Tasks/Divide",
        requestType: "example.v1.DivideRequest",
        responseType: "example.v1.DivideResponse",
        request: DivideRequest,
        response: DivideResponse,
        options: {},
      },
      countPrimes: {
        name: "CountPrimes",
        taskName: "dingo.conformance.v1.Tasks/CountPrimes",
        requestType: "example.v1.CountPrimesRequest",
        responseType: "example.v1.CountPrimesResponse",
        request: CountPrimesRequest,
        response: CountPrimesResponse,
        options: {},
      },
    },
  } as const satisfies ServiceDefinition;

  /** A method no worker serves, published to the queue the workers consume. */
  const Unserved = {
    typeName: "dingo.conformance.v1.Unserved",
    defaults: { queue },
    methods: {
      missing: { ...Tasks.methods.add, name: "Missing", taskName: "dingo.conformance.v1.Unserved/Missing" },
    },
  } as const satisfies ServiceDefinition;

  /** Sends bytes that do not decode as AddRequest under Add's task name. */
  const Garbled = {
    typeName: "dingo.conformance.v1.Tasks",
    defaults: { queue },
    methods: { add: { ...Tasks.methods.add, request: garbledCodec } },
  } as const satisfies ServiceDefinition;

  /** A second service on a queue of its own. */
  const Second = {
    typeName: "dingo.conformance.v1.Second",
    defaults: { queue: `${queue}-second` },
    methods: {
      add: { ...Tasks.methods.add, name: "Add", taskName: "dingo.conformance.v1.Second/Add" },
    },
  } as const satisfies ServiceDefinition;

  return { queue, Tasks, Unserved, Garbled, Second };
}

/**
 * A request codec whose output is not valid protobuf: field 1, length-delimited,
 * claiming 100 bytes that are not there.
 */
const garbledCodec: MessageCodec<AddRequest> = {
  encode: (_message, writer = new BinaryWriter()) => writer.raw(new Uint8Array([0x0a, 100, 1])),
  decode: AddRequest.decode,
  fromPartial: (init) => AddRequest.fromPartial(init),
};

/**
 * Handlers of the conformance `Tasks` service where only `add` matters to a test; the
 * other methods answer with their defaults.
 */
export function onlyAdd(add: ServiceHandlers<ConformanceTasks>["add"]): ServiceHandlers<ConformanceTasks> {
  return { add, divide: () => ({}), countPrimes: () => ({}) };
}

type ConformanceTasks = ReturnType<typeof conformanceServices>["Tasks"];

/** A promise with its resolve function, to await events instead of sleeping. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}
