/**
 * Every code block of README.md is compiled or run here, so the README cannot drift
 * from the code: TypeScript blocks are typechecked and run, the proto block is
 * generated, the buf template and the protoc line are run, shell commands are run or
 * checked against package.json or the scripts' --help, and the layout block is checked
 * against the tree.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { amqpUrl, openInspector, requireRabbitMq } from "./amqp-availability.js";
import { python, requirePython } from "./interop/python-process.js";
import { deleteKeys, redisUrl, requireRedis } from "./redis-availability.js";

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const readme = readFileSync(join(root, "README.md"), "utf8");

interface Block {
  readonly lang: string;
  readonly code: string;
  readonly line: number;
}

const blocks: Block[] = [...readme.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((match) => ({
  lang: match[1] ?? "",
  code: match[2] ?? "",
  line: readme.slice(0, match.index).split("\n").length,
}));
const ofLang = (lang: string): Block[] => blocks.filter((block) => block.lang === lang);
const scripts = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> })
  .scripts;

// TypeScript blocks live inside the repository so that `dingo-ts` resolves through tsconfig paths.
const scratch = join(root, ".tmp", `readme-${process.pid}`);
const outside = mkdtempSync(join(tmpdir(), "dingo-readme-"));
after(() => {
  rmSync(scratch, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

/** Deletes the keys an example left under `prefix` (queue streams do not expire). */
async function removeRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    await deleteKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

/**
 * Deletes the durable queues and exchanges an example declared under `prefix`, found with
 * rabbitmqctl (the example's transport object is gone with its process).
 */
async function removeRabbitMqTopology(prefix: string): Promise<void> {
  const list = async (what: string): Promise<string[]> => {
    const { stdout } = await run("rabbitmqctl", ["-q", "--no-table-headers", what, "name"]);
    return stdout.split("\n").filter((name) => name.startsWith(prefix));
  };
  const [queues, exchanges] = [await list("list_queues"), await list("list_exchanges")];
  const inspector = await openInspector();
  try {
    const channel = await inspector.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
    for (const exchange of exchanges) await channel.deleteExchange(exchange);
  } finally {
    await inspector.close();
  }
}

const hasProtoc = await run("protoc", ["--version"]).then(
  () => true,
  () => false,
);

/** A directory laid out like a user's project: the README's proto, and this package installed. */
function userProject(name: string): string {
  const dir = join(outside, name);
  mkdirSync(join(dir, "proto/shop/v1"), { recursive: true });
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  writeFileSync(join(dir, "proto/shop/v1/orders.proto"), ofLang("proto")[0]?.code ?? "");
  symlinkSync(root, join(dir, "node_modules/dingo-ts"));
  symlinkSync(join(root, "node_modules/ts-proto"), join(dir, "node_modules/ts-proto"));
  return dir;
}

describe("README.md", () => {
  it("has the blocks this test knows how to check, and no others", () => {
    const known = new Set(["ts", "proto", "yaml", "sh", "text"]);
    for (const block of blocks)
      assert.ok(known.has(block.lang), `README.md:${block.line}: unchecked block "${block.lang}"`);
    assert.ok(ofLang("ts").length >= 2);
  });

  it("TypeScript blocks typecheck and run", async (t) => {
    mkdirSync(scratch, { recursive: true });
    const files = ofLang("ts").map((block, index) => {
      const file = join(scratch, `block-${index + 1}-line-${block.line}.ts`);
      writeFileSync(file, block.code.replaceAll('"./generated/', '"../../generated/'));
      return file;
    });
    writeFileSync(
      join(scratch, "tsconfig.json"),
      JSON.stringify({ extends: "../../tsconfig.json", include: ["*.ts"] }),
    );
    await run(join(root, "node_modules/.bin/tsc"), ["--noEmit", "-p", scratch]).catch((error: { stdout: string }) =>
      assert.fail(`README TypeScript does not typecheck:\n${error.stdout}`),
    );
    for (const [index, file] of files.entries()) {
      // Broker examples need their brokers: skipped with a message without them, a failure on CI.
      const code = ofLang("ts")[index]?.code ?? "";
      const needsRedis = code.includes("dingo-ts/transport/redis");
      const needsRabbitMq = code.includes("dingo-ts/transport/amqp");
      if (needsRedis && !(await requireRedis())) {
        t.diagnostic(`skipped ${file}: Redis is not reachable at ${redisUrl}`);
        continue;
      }
      if (needsRabbitMq && !(await requireRabbitMq())) {
        t.diagnostic(`skipped ${file}: RabbitMQ is not reachable at ${amqpUrl}`);
        continue;
      }
      await run(process.execPath, ["--import", "tsx", file], { cwd: root, timeout: 60_000 }).catch(
        (error: { stderr: string }) => assert.fail(`${file} failed:\n${error.stderr}`),
      );
      if (needsRedis) await removeRedisKeys("shop");
      if (needsRabbitMq) await removeRabbitMqTopology("shop.");
    }
  });

  it("the proto block generates", async () => {
    const [block] = ofLang("proto");
    assert.ok(block !== undefined);
    const protoDir = join(outside, "proto");
    mkdirSync(join(protoDir, "shop/v1"), { recursive: true });
    writeFileSync(join(protoDir, "shop/v1/orders.proto"), block.code);
    const out = join(outside, "generated");
    await run(process.execPath, [join(root, "bin/dingo.js"), "gen", "--proto", protoDir, "--out", out], { cwd: root });
    const generated = readFileSync(join(out, "shop/v1/orders_dingo.ts"), "utf8");
    assert.match(generated, /taskName: "shop\.v1\.OrderTasks\/Charge"/);
    assert.match(generated, /options: \{ maxAttempts: 5, initialBackoffMs: 200, timeoutMs: 5000 \}/);
  });

  it("the buf template generates the same code as dingo gen", async () => {
    const [block] = ofLang("yaml");
    assert.ok(block !== undefined);
    const dir = userProject("buf");
    writeFileSync(join(dir, "buf.gen.yaml"), block.code);
    writeFileSync(
      join(dir, "buf.yaml"),
      "version: v2\nmodules:\n  - path: proto\n  - path: node_modules/dingo-ts/proto\n",
    );
    await run(join(root, "node_modules/.bin/buf"), ["generate", "proto"], { cwd: dir }).catch(
      (error: { stderr: string }) => assert.fail(`buf generate failed:\n${error.stderr}`),
    );
    const viaBuf = readFileSync(join(dir, "generated/shop/v1/orders_dingo.ts"), "utf8");
    const viaGen = readFileSync(join(outside, "generated/shop/v1/orders_dingo.ts"), "utf8");
    assert.equal(viaBuf, viaGen);
  });

  it("the shell commands exist and run", async (t) => {
    for (const block of ofLang("sh")) {
      const command = block.code.replaceAll("\\\n", " ").trim();
      if (command.startsWith("protoc ")) {
        if (!hasProtoc) {
          assert.ok(!process.env.CI, "protoc is missing in CI (.ci/run installs protobuf-compiler)");
          t.diagnostic("protoc not installed: the README's protoc line was not run");
          continue;
        }
        const dir = userProject("protoc");
        mkdirSync(join(dir, "generated"), { recursive: true });
        const args = command.split(/\s+/).slice(1);
        // Debian's protoc keeps google/protobuf/*.proto in /usr/include.
        await run("protoc", ["-I", "/usr/include", ...args], { cwd: dir }).catch((error: { stderr: string }) =>
          assert.fail(`protoc failed:\n${error.stderr}`),
        );
        assert.ok(existsSync(join(dir, "generated/shop/v1/orders_dingo.ts")));
        continue;
      }
      for (const line of command.split("\n")) {
        for (const part of line.split("&&").map((piece) => piece.trim())) {
          const script = /^npm (?:run )?(\S+)$/.exec(part)?.[1];
          if (part === "npm ci") continue;
          if (part === "npx dingo gen") {
            await run(process.execPath, [join(root, "bin/dingo.js"), "gen", "--check"], { cwd: root });
            continue;
          }
          const pythonScript = /^\/usr\/bin\/python3 (interop\/python\/\S+\.py)/.exec(part)?.[1];
          if (pythonScript !== undefined) {
            // test/interop/ runs these against the brokers; here: the script and every option it uses exist.
            const missing = await requirePython();
            if (missing !== undefined) {
              t.diagnostic(`README.md:${block.line}: not checked, ${missing}`);
              continue;
            }
            const { stdout: help } = await run(python, ["-B", join(root, pythonScript), "--help"]);
            for (const option of part.match(/(?<=\s)--[a-zA-Z][\w-]*/g) ?? []) {
              assert.ok(help.includes(option), `README.md:${block.line}: ${pythonScript} has no option ${option}`);
            }
            continue;
          }
          const cli = /^npx dingo (\S+)/.exec(part);
          if (cli !== null) {
            // test/cli/ runs these against the brokers; here: the command and every option it uses exist.
            const { stdout: help } = await run(process.execPath, [
              join(root, "bin/dingo.js"),
              cli[1] as string,
              "--help",
            ]);
            for (const option of part.match(/(?<=\s)--?[a-zA-Z][\w-]*/g) ?? []) {
              assert.ok(help.includes(option), `README.md:${block.line}: "dingo ${cli[1]}" has no option ${option}`);
            }
            continue;
          }
          assert.ok(script !== undefined && script in scripts, `README.md:${block.line}: unknown command "${part}"`);
          // `npm test` is this very run; the demo is run for real.
          if (script === "demo") {
            const { stdout } = await run("npm", ["run", "-s", "demo"], { cwd: root, timeout: 120_000 });
            assert.match(stdout, /40 \+ 2 = 42/);
          }
        }
      }
    }
  });

  it("the layout block matches the tree", () => {
    const layoutLine = readme.split("\n").indexOf("## Layout") + 1;
    const layout = ofLang("text").find((block) => block.line > layoutLine);
    assert.ok(layout !== undefined);
    for (const line of layout.code.trim().split("\n")) {
      const dir = line.split(/\s+/)[0] ?? "";
      assert.ok(existsSync(join(root, dir)), `README layout names ${dir}, which does not exist`);
    }
    assert.ok(readdirSync(join(root, "src/transport")).some((file) => file.endsWith("-transport.ts")));
  });
});
