/**
 * A problem with the input of `protoc-gen-dingo`: a plugin option, a `.proto` construct
 * it cannot turn into tasks, or an invalid `(dingo.v1.task)` value.
 *
 * The message is meant for the person who wrote the `.proto` file, so it always
 * names where the problem is (`<file>: <service>.<method>: ...`), and it is the whole
 * diagnostic: `runNodeJs` prints it as `protoc-gen-dingo: <message>` with no stack.
 */
export class CodegenError extends Error {
  override readonly name = "CodegenError";
}
