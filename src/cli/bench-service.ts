import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import type { MessageCodec } from "../message-codec.js";
import type { ServiceDefinition } from "../service-definition.js";

/**
 * The request and response of `dingo bench`'s echo task: `message EchoMessage { bytes
 * payload = 1; }` in package `dingo.bench.v1`. Written out in the shape ts-proto emits
 * rather than generated: it has one field, and keeping it out of `proto/` keeps it out of
 * users' `dingo gen` output and of the example code.
 */
export interface EchoMessage {
  payload: Uint8Array;
}

const empty = new Uint8Array(0);

/** The codec of {@link EchoMessage}, as ts-proto would emit it. */
export const EchoMessage: MessageCodec<EchoMessage> = {
  encode(message, writer = new BinaryWriter()) {
    if (message.payload.length !== 0) writer.uint32(10).bytes(message.payload);
    return writer;
  },
  decode(input) {
    const reader = new BinaryReader(input);
    const message: EchoMessage = { payload: empty };
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag === 10) {
        message.payload = reader.bytes();
        continue;
      }
      if ((tag & 7) === 4 || tag === 0) break;
      reader.skip(tag & 7);
    }
    return message;
  },
  fromPartial(init) {
    return { payload: init.payload ?? empty };
  },
};

/** The task name of the echo task. */
export const echoTaskName = "dingo.bench.v1.BenchTasks/Echo";

/**
 * The service definition of `dingo bench`'s echo task, in the shape `protoc-gen-dingo`
 * emits, on `queue`: each run uses a queue of its own so that it never takes or leaves
 * tasks on a real one. Results are kept 10 s instead of the default 10 min: a run makes
 * hundreds of thousands of them, and nobody looks them up.
 */
export function benchService(queue: string) {
  return {
    typeName: "dingo.bench.v1.BenchTasks",
    defaults: { queue, resultTtlMs: 10_000 },
    methods: {
      /** Returns its request. */
      echo: {
        name: "Echo",
        taskName: echoTaskName,
        requestType: "dingo.bench.v1.EchoMessage",
        responseType: "dingo.bench.v1.EchoMessage",
        request: EchoMessage,
        response: EchoMessage,
        options: {},
      },
    },
  } as const satisfies ServiceDefinition;
}
