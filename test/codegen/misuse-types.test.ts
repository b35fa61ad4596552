import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { repoRoot, scratchDir } from "./proto-fixture.js";
import { tsc } from "./tsc.js";

const misusePath = join(repoRoot, "test", "types", "misuse.ts");

test("test/types/misuse.ts typechecks: correct usage compiles, every misuse is an error", () => {
  using dir = scratchDir("misuse");
  const result = tsc(dir.path, [misusePath]);
  assert.equal(result.status, 0, result.output);
});

test("each @ts-expect-error in test/types/misuse.ts marks a real error", () => {
  using dir = scratchDir("misuse-removed");
  const source = readFileSync(misusePath, "utf8")
    // The copies live in the scratch dir, so the relative import must become absolute.
    .replaceAll('"../../generated/', `"${join(repoRoot, "generated")}/`);
  const lines = source.split("\n");
  const directives = lines.flatMap((line, i) => (line.trim().startsWith("// @ts-expect-error") ? [i] : []));
  assert.ok(directives.length >= 5, `expected the misuse cases, found ${directives.length}`);
  // One copy per directive, each with only that directive removed; one tsc run checks all.
  const copies = directives.map((lineIndex, n) => {
    const file = join(dir.path, `misuse-${n}.ts`);
    writeFileSync(file, lines.map((line, i) => (i === lineIndex ? "" : line)).join("\n"));
    return { file, line: lineIndex + 2, what: lines[lineIndex]?.trim() };
  });
  const result = tsc(
    dir.path,
    copies.map((c) => c.file),
  );
  assert.notEqual(result.status, 0, "removing @ts-expect-error lines must make tsc fail");
  for (const copy of copies) {
    // tsc prints `path(line,col): error TS…`; the error is on the line after the directive.
    const pattern = new RegExp(`misuse-\\d+\\.ts\\(${copy.line},\\d+\\): error TS`);
    const own = result.output.split("\n").filter((l) => l.includes(`${copy.file.slice(dir.path.length + 1)}(`));
    assert.ok(
      own.some((l) => pattern.test(l)),
      `${copy.what}: expected an error on line ${copy.line}, got:\n${own.join("\n")}`,
    );
  }
});
