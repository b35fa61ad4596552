/**
 * Formats text as a JSDoc block at the given indentation: one line (`/** text *\/`)
 * when the text is one line, a `*`-prefixed block otherwise, nothing when empty.
 * `*\/` in the text is escaped so a comment in a `.proto` cannot end the block early.
 */
export function formatJsDoc(text: string, indent = ""): string {
  if (text.trim() === "") return "";
  const lines = text.split("\n").map((line) => line.replaceAll("*/", "*\\/").trimEnd());
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((line) => (line === "" ? `${indent} *\n` : `${indent} * ${line}\n`)).join("")}${indent} */\n`;
}
