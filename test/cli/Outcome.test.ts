import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, FiberId } from "effect"
import { CliError } from "../../src/cli/CliError.js"
import * as Outcome from "../../src/cli/Outcome.js"
import * as Output from "../../src/cli/Output.js"
import { EngineRegistryError } from "../../src/EngineRegistryError.js"
import { RunnerError } from "../../src/RunnerError.js"
import { WriterError } from "../../src/WriterError.js"

describe("Outcome", () => {
  it.effect("maps each way a command can end to its exit code and one line", () =>
    Effect.sync(() => {
      const fail = (error: unknown) => Outcome.fromCause(Cause.fail(error))
      assert.deepStrictEqual(
        fail(new CliError({ reason: "ItemsFailed", failed: 2, description: "2 items failed" })),
        { code: 1, message: "2 items failed" }
      )
      assert.deepStrictEqual(
        fail(new CliError({ reason: "NotFound", path: "x.jsonl", description: "input not found" })),
        { code: 2, message: "x.jsonl: input not found" }
      )
      assert.strictEqual(fail(new CliError({ reason: "KillFailed", description: "still running" })).code, 3)
      assert.deepStrictEqual(
        fail(new RunnerError({ reason: "ExportNotFound", path: "m.ts", description: "no export \"x\"" })),
        { code: 2, message: "m.ts: ExportNotFound - no export \"x\"" }
      )
      assert.strictEqual(fail(new RunnerError({ reason: "Output", path: "out", description: "disk full" })).code, 3)
      const invalid = new EngineRegistryError({
        reason: "InvalidConfig",
        file: "engines.yml",
        line: 3,
        column: 5,
        field: "engines[0].backend",
        description: "is missing",
        issues: [
          { field: "engines[0].backend", message: "is missing", line: 3, column: 5 },
          { field: "engines[1].model", message: "is missing", line: 7, column: 5 }
        ]
      })
      assert.deepStrictEqual(fail(invalid), {
        code: 2,
        message: "engines.yml:3:5: engines[0].backend: is missing (2 problems)"
      })
      assert.strictEqual(fail(new EngineRegistryError({ reason: "StartFailed", engine: "local" })).code, 3)
      assert.strictEqual(fail(new WriterError({ reason: "Io", path: "out/a", description: "EIO" })).code, 3)
      assert.deepStrictEqual(
        fail(ValidationError.invalidValue(HelpDoc.empty)),
        { code: 2, message: undefined }
      )
      assert.deepStrictEqual(Outcome.fromCause(Cause.die(new Error("boom\nstack"))), {
        code: 3,
        message: "internal error: boom"
      })
      assert.deepStrictEqual(Outcome.fromCause(Cause.interrupt(FiberId.none)), { code: 130, message: undefined })
    }))

  it.effect("Output.table pads columns and aligns numbers right", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(
        Output.table([["step", "done", "p50", "model"], ["extract", "1,000", "12ms", "-"], [
          "merge",
          "7",
          "-",
          "qwen"
        ]]),
        ["step      done   p50  model", "extract  1,000  12ms  -", "merge        7     -  qwen"]
      )
    }))
})
