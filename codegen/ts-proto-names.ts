import type { DescFile, DescMessage } from "@bufbuild/protobuf";

/** Where ts-proto (with `fileSuffix=_pb`) puts a message: the exported name and its module. */
export interface TsProtoSymbol {
  /** The exported name: both the interface and the `MessageFns` codec constant. */
  readonly name: string;
  /** Path of the module without extension, relative to the output root, e.g. `example/v1/math_pb`. */
  readonly module: string;
}

/**
 * Names a message the way ts-proto 2.x does with its default naming options, so the
 * generated `*_dingo.ts` can import the codec ts-proto emitted.
 *
 * Mirrors ts-proto's `visit.ts`/`case.ts`: nested messages are joined with `_`
 * (`useSnakeTypeName`), snake_case segments are camel-cased (`snakeToCamel=keys`),
 * and `Date`/`Function` get a `Message` suffix.
 */
export function tsProtoSymbol(message: DescMessage): TsProtoSymbol {
  const segments: string[] = [];
  for (let m: DescMessage | undefined = message; m !== undefined; m = m.parent) {
    segments.unshift(m.name.includes("_") ? snakeToCamel(m.name) : m.name);
  }
  const name = segments.join("_");
  return {
    name: name === "Date" || name === "Function" ? `${name}Message` : name,
    module: tsProtoModule(message.file),
  };
}

/** The module ts-proto emits for a file, without extension: `example/v1/math.proto` → `example/v1/math_pb`. */
export function tsProtoModule(file: DescFile): string {
  // ts-proto replaces the first ".proto", not a suffix; match it exactly.
  return `${file.proto.name.replace(".proto", "")}_pb`;
}

function snakeToCamel(s: string): string {
  const hasLowerCase = /[a-z]/.test(s);
  return s
    .split("_")
    .map((word, i) => {
      // ts-proto keeps mixed-case words as they are and lower-cases SHOUTING_CASE.
      const w = hasLowerCase ? word : word.toLowerCase();
      return i === 0 ? w : w.charAt(0).toUpperCase() + w.slice(1);
    })
    .join("");
}
