/**
 * What the CLI prints where: no ANSI codes on a stream that is not a terminal (`--help` included), stdout holding
 * JSON lines only with `--json-logs` (logs and warnings go to stderr).
 */
import { NodeContext } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { sluice, sluiceWith } from "./spawn.js"

const timeout = 120_000
const escape = String.fromCharCode(27)

describe("sluice CLI output", () => {
  it.live("--help piped has no ANSI codes, with or without NO_COLOR", () =>
    Effect.gen(function*() {
      for (const env of [{ NO_COLOR: undefined, FORCE_COLOR: undefined }, { NO_COLOR: "1" }]) {
        const help = yield* sluiceWith(env, "--help")
        assert.strictEqual(help.code, 0, help.stderr)
        assert.include(help.stdout, "USAGE")
        assert.notInclude(help.stdout, escape)
        assert.notInclude(help.stderr, escape)
      }
      const usage = yield* sluiceWith({ NO_COLOR: undefined }, "run", "--nope")
      assert.notStrictEqual(usage.code, 0)
      assert.notInclude(usage.stdout + usage.stderr, escape)
    }), timeout)

  it.live(
    "--json-logs with debug logs and an engines file warning: every stdout line is JSON",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sluice-cli-output-" })
        const run = yield* sluice(
          "run",
          "test/fixtures/cli/chain.ts:chain",
          "-i",
          "test/fixtures/cli/products.jsonl",
          "-o",
          `${dir}/run`,
          "--engines",
          "test/fixtures/cli/warn-engines.yml",
          "--stop-after-failures",
          "0",
          "--json-logs",
          "--log-level",
          "debug"
        )
        assert.strictEqual(run.code, 1, run.stderr)
        const lines = run.stdout.split("\n").filter((line) => line !== "")
        assert.isAbove(lines.length, 5)
        for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), line)
        assert.isTrue(lines.some((line) => (JSON.parse(line) as { _tag: string })._tag === "StepError"))
        assert.match(run.stderr, /WARN .*dtype/)
        assert.notInclude(run.stdout + run.stderr, escape)
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)),
    timeout
  )
})
