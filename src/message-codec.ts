import type { BinaryWriter } from "@bufbuild/protobuf/wire";

type Builtin = Uint8Array | string | number | boolean | bigint | undefined | null;

/**
 * What a caller may pass for a message of type `T`: every field optional, recursively.
 * Missing fields take their protobuf defaults, as in every protobuf runtime.
 */
export type MessageInit<T> = T extends Builtin
  ? T
  : T extends readonly (infer U)[]
    ? readonly MessageInit<U>[]
    : T extends object
      ? { readonly [K in keyof T]?: MessageInit<T[K]> }
      : T;

/**
 * The codec of one protobuf message type, as ts-proto emits it (`export const
 * AddRequest: MessageFns<AddRequest>`). Generated service definitions point at these
 * objects; the runtime only encodes, decodes and fills defaults through them.
 */
export interface MessageCodec<T> {
  /** Appends `message` to `writer` (a new one if absent) and returns the writer. */
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  /** Reads one message from protobuf binary. Throws on malformed input. */
  decode(input: Uint8Array): T;
  /** Builds a complete message from a partial one, filling protobuf defaults. */
  fromPartial(init: MessageInit<T>): T;
}
