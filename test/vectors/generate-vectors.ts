/**
 * Writes the golden vectors of the `dingo.v1` wire contract (`<name>.bin` and index.json in
 * this folder) from vector-definitions.ts, or with `--check` fails if the files differ.
 *
 *   node --import tsx test/vectors/generate-vectors.ts          # write
 *   node --import tsx test/vectors/generate-vectors.ts --check  # exit 1 on drift
 *
 * A `.bin` that no definition names is reported by `--check`; writing does not delete it.
 */
import { buildGoldenVectors, findDrift, writeGoldenVectors } from "./golden-vectors.js";

const args = process.argv.slice(2);
const check = args.includes("--check");
const unknown = args.filter((arg) => arg !== "--check");
if (unknown.length > 0) {
  console.error(`unknown arguments: ${unknown.join(" ")}\nusage: generate-vectors.ts [--check]`);
  process.exit(2);
}

const vectors = buildGoldenVectors();
if (check) {
  const drift = await findDrift(vectors);
  if (drift.length > 0) {
    console.error(
      `golden vectors are out of date (run node --import tsx test/vectors/generate-vectors.ts):\n  ${drift.join("\n  ")}`,
    );
    process.exit(1);
  }
  console.log(`golden vectors are current (${vectors.length} vectors)`);
} else {
  const written = await writeGoldenVectors(vectors);
  console.log(`wrote ${written.length} files`);
}
